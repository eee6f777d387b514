"""Replies to our emails. Each email's Reply-To is a per-message address on the store's
reply domain; a reply arrives through an ESP's inbound webhook (anymail's inbound
signal) or through Aftersale's own SMTP receiver (`aftersale replies`). Either way
`receive_reply` matches it to the message it answers (counted once as Replied in the
report) and forwards it to the merchant with the customer as Reply-To, so the merchant
answers the customer directly."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage as ParsedEmail
from email.parser import BytesParser
from email.utils import formataddr, getaddresses, parseaddr
from typing import TYPE_CHECKING, Any

from anymail.signals import AnymailInboundEvent, inbound
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import close_old_connections, connection
from django.dispatch import receiver

from aftersale.lib import clock
from aftersale.lib.logs import ids
from aftersale.messaging.models import Message
from aftersale.messaging.rendering.links import (
    message_id_from_reply_address,
    message_id_from_unsubscribe_address,
)
from aftersale.stores.models import Store
from aftersale.tracking.selectors import message_replied_to, reply_domains, store_for_reply_domain
from aftersale.tracking.services import record_reply, unsubscribe_recipient

# Every command imports this module (the app's ready() connects its receiver), and only
# `aftersale replies` runs the server: aiosmtpd is imported by reply_server, for start-up.
if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

logger = logging.getLogger(__name__)

# Subjects of out-of-office and other automatic answers from mail systems that do not
# send RFC 3834's Auto-Submitted header.
_AUTOMATIC_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|autoreply|out of (the )?office"
    r"|abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica)\b",
    re.IGNORECASE,
)
_AUTOMATIC_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class ReplyOutcome:
    """What became of one reply."""

    message: Message | None  # the message it answers; None when it names none of ours
    counted: bool  # it added the message's `replied` event (the report counts it)
    automatic: bool  # an out-of-office or other machine answer: never counted
    forwarded_to: str  # the merchant's address; "" when it was kept on disk instead
    # A mail to a message's List-Unsubscribe mailto: address: its recipient unsubscribed.
    unsubscribed: bool = False


def receive_reply(
    *, raw: bytes, recipients: Iterable[str], envelope_sender: str | None, now: dt.datetime
) -> ReplyOutcome:
    """Take one reply (`raw`, the email as received) addressed to `recipients` (the
    envelope recipients; the To, Cc and Delivered-To headers when none are known). The
    message it answers is the one named by a signed reply address among the recipients,
    else the one its In-Reply-To/References name. A reply by a person records that
    message's `replied` event (once per message); an automatic one (RFC 3834
    Auto-Submitted, out-of-office, a null `envelope_sender` "<>" as bounces have) is never
    counted. Every reply is forwarded to its store's merchant (Store.reply_to, else
    from_email) with the customer as Reply-To and the original attached, marked
    "unmatched" or "auto-reply" when so; one for no store's reply domain is kept in
    AFTERSALE_HOME/replies/unrouted/ and logged. Nothing is lost: when forwarding fails
    the error propagates, so the sender tries again (and the reply is counted once).

    A mail to a signed List-Unsubscribe address among the recipients is no reply: the
    message's recipient is unsubscribed exactly as by the one-click link (the signed
    address is the proof, as the link's token is, whoever the sender), and nothing is
    forwarded. An address with a forged or unknown token is an ordinary unmatched
    reply: it changes nothing."""
    email = BytesParser(policy=policy.default).parsebytes(raw)
    addresses = list(recipients) or _header_addresses(email, "To", "Cc", "Delivered-To")
    unsubscribing = [pk for a in addresses if (pk := message_id_from_unsubscribe_address(a))]
    if unsubscribing:
        return _unsubscribe(unsubscribing, sender=_sender_address(email), now=now)
    message = message_replied_to(
        message_ids=[pk for a in addresses if (pk := message_id_from_reply_address(a))],
        referenced=_referenced_ids(email),
    )
    null_sender = envelope_sender is not None and not envelope_sender.strip("<> ")
    automatic = null_sender or is_automatic_reply(email)
    sender = _sender_address(email)
    counted = False
    if message is not None and not automatic:
        counted = record_reply(message=message, sender=sender, now=now)
    store = message.store if message else _store_of(addresses)
    if store is None:
        _keep_unrouted(raw, now=now)
        return ReplyOutcome(message=None, counted=False, automatic=automatic, forwarded_to="")
    kind = "auto-reply" if automatic else ("matched" if message else "unmatched")
    inbox = _forward(email, raw=raw, store=store, message=message, kind=kind, sender=sender)
    return ReplyOutcome(message=message, counted=counted, automatic=automatic, forwarded_to=inbox)


def _unsubscribe(message_ids: list[int], *, sender: str, now: dt.datetime) -> ReplyOutcome:
    """Unsubscribe the recipient of the first of `message_ids` that exists, as the
    one-click link does."""
    message = message_replied_to(message_ids=message_ids, referenced=[])
    if message is None:
        logger.warning("an unsubscribe mail for no message of ours (%s): ignored", message_ids)
        return ReplyOutcome(message=None, counted=False, automatic=False, forwarded_to="")
    unsubscribe_recipient(message=message, now=now)
    # The sender's address is personal data: the message id says whose it is.
    logger.info("unsubscribed by mail: message %s", message.pk, extra=ids(message_id=message.pk))
    return ReplyOutcome(
        message=message, counted=False, automatic=False, forwarded_to="", unsubscribed=True
    )


def is_automatic_reply(email: ParsedEmail) -> bool:
    """Whether `email` was written by a machine: Auto-Submitted other than "no" (RFC
    3834), the X-Autoreply family, Precedence auto_reply/bulk/junk, or an out-of-office
    subject."""
    if _clean(str(email.get("Auto-Submitted", "no"))).lower() != "no":
        return True
    if any(header in email for header in _AUTOMATIC_HEADERS):
        return True
    if _clean(str(email.get("Precedence", ""))).lower() in {"auto_reply", "bulk", "junk"}:
        return True
    return bool(_AUTOMATIC_SUBJECT.match(str(email.get("Subject", ""))))


def _forward(
    email: ParsedEmail,
    *,
    raw: bytes,
    store: Store,
    message: Message | None,
    kind: str,
    sender: str,
) -> str:
    """Send the reply on to the merchant; returns the merchant's address."""
    inbox = store.reply_to or store.from_email
    subject = _clean(str(email.get("Subject", ""))) or "(no subject)"
    name = _clean(parseaddr(str(email.get("From", "")))[0]) or sender or "unknown sender"
    headers = {"X-Aftersale-Reply": kind}
    if message is not None:
        headers["X-Aftersale-Message"] = str(message.pk)
    forward = EmailMessage(
        subject=subject if kind == "matched" else f"[{kind}] {subject}",
        body=_summary(email, message=message, kind=kind, sender=sender),
        from_email=formataddr((f"{name} via {store.name}"[:200], store.from_email)),
        to=[inbox],
        reply_to=[sender] if sender else None,
        headers=headers,
    )
    forward.attach(content=raw, mimetype="message/rfc822")  # the reply exactly as received
    forward.send()
    return inbox


def _summary(email: ParsedEmail, *, message: Message | None, kind: str, sender: str) -> str:
    if message is not None:
        about = f"It answers “{message.subject}” (message {message.pk}) sent to {message.to_email}."
    else:
        about = "It names no email of ours (unmatched)."
    lines = [f"{sender or 'Someone (no sender address)'} replied. {about}"]
    if kind == "auto-reply":
        lines.append("This is an automatic answer (out of office or similar): not counted.")
    if sender:
        lines.append("Answer this email to write back to them.")
    body = email.get_body(("plain",))
    text = body.get_content() if body is not None else "(no plain-text part: see the attachment)"
    return "\n".join(lines) + "\n\n" + "-" * 40 + "\n" + str(text)


def _sender_address(email: ParsedEmail) -> str:
    """The address answers should go to: Reply-To, else From; "" when neither is a
    usable address."""
    for header in ("Reply-To", "From"):
        address = parseaddr(str(email.get(header, "")))[1]
        if "@" in address and address == _clean(address) and " " not in address:
            return address
    return ""


def _header_addresses(email: ParsedEmail, *headers: str) -> list[str]:
    values = [str(value) for header in headers for value in email.get_all(header, [])]
    return [address for _, address in getaddresses(values) if address]


def _referenced_ids(email: ParsedEmail) -> list[str]:
    values = " ".join(str(email.get(header, "")) for header in ("In-Reply-To", "References"))
    return _MESSAGE_ID.findall(values)


def _store_of(addresses: Iterable[str]) -> Store | None:
    domains = (address.rpartition("@")[2] for address in addresses)
    return next((s for d in domains if (s := store_for_reply_domain(domain=d))), None)


def _keep_unrouted(raw: bytes, *, now: dt.datetime) -> None:
    folder = settings.DATA_DIR / "replies" / "unrouted"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
    path.write_bytes(raw)
    logger.error("a reply for no store's reply domain was kept in %s", path)


def _clean(value: str) -> str:
    """`value` on one line: a header value decoded from the reply may hide CR/LF."""
    return " ".join(value.split())


# --- where replies come in ------------------------------------------------------------


@receiver(inbound, dispatch_uid="aftersale.tracking.replies")
def on_inbound(sender: object, event: AnymailInboundEvent, esp_name: str, **_: Any) -> None:
    """anymail's inbound signal (an ESP's inbound webhook): take the reply."""
    email = event.message
    if email is None:
        return
    recipient = getattr(email, "envelope_recipient", None)
    outcome = receive_reply(
        raw=email.as_bytes(),
        recipients=[recipient] if recipient else [],
        envelope_sender=getattr(email, "envelope_sender", None),
        now=clock.now(),
    )
    logger.info("%s inbound reply: %s", esp_name, outcome)


class ReplyHandler:
    """aiosmtpd handler of the reply receiver: accepts mail only for the stores' reply
    domains and hands each email to `receive_reply`. Database work runs in a worker
    thread: Django's ORM must not run inside the event loop."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain not in await sync_to_async(_accepted_domains)():
            return "550 5.1.1 no such reply address here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else content.encode()
        try:
            await sync_to_async(_receive)(raw, list(envelope.rcpt_tos), envelope.mail_from)
        except Exception:
            logger.exception("a reply could not be taken; the sender will retry")
            return "451 4.3.0 cannot take the reply now, try again later"
        return "250 OK reply received"


def reply_server(*, host: str, port: int) -> Controller:
    """The SMTP reply receiver on `host`:`port` (0: any free port, read back from
    `.port` once started); call start() and stop()."""
    from aftersale.messaging.delivery.capture import LocalSmtpController

    return LocalSmtpController(ReplyHandler(), hostname=host, port=port)


def _accepted_domains() -> set[str]:
    close_old_connections()  # a long-running receiver must not reuse a dead connection
    try:
        return reply_domains()
    finally:
        connection.close()  # replies are rare: hold no idle connection between them


def _receive(raw: bytes, recipients: list[str], envelope_sender: str) -> None:
    close_old_connections()
    try:
        outcome = receive_reply(
            raw=raw, recipients=recipients, envelope_sender=envelope_sender, now=clock.now()
        )
    finally:
        connection.close()
    logger.info("SMTP reply: %s", outcome)

"""Replies: through Aftersale's own SMTP receiver (a real aiosmtpd server on 127.0.0.1 fed
by smtplib) and through anymail's inbound webhook (a recorded Postmark payload), matched
to the email they answer, counted once, and forwarded to the merchant."""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage as ParsedEmail
from email.message import Message as MimePart
from email.utils import make_msgid
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from pytest_django.fixtures import Settings

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Message, MessageStatus, SuppressionReason
from aftersale.messaging.outbox.selectors import suppression_reason
from aftersale.messaging.rendering.links import reply_address, unsubscribe_address
from aftersale.messaging.tests.factories import make_customer, make_scenario
from aftersale.reports.selectors import flow_report
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.replies import reply_server
from aftersale.tracking.tests.helpers import PUBLIC, send_one, with_esp

DOMAIN = "reply.shop.example.com"
MERCHANT = "owner@shop.example.com"
CUSTOMER = "ada@example.org"
SENT_ID = "<170954280000.1.42@shop.example.com>"  # the Message-ID our email went out with
INBOUND = Path(__file__).parent / "payloads" / "postmark"
RECORDED_REPLY_ADDRESS = "reply+0-0000000000000000@reply.shop.example.com"
SECRET = "aftersale:webhook-test-secret"


@pytest.fixture
def message(store: Store, clock: VirtualClock) -> Message:
    """A thank-you email sent to Ada from a store that receives replies on DOMAIN."""
    Store.objects.filter(pk=store.pk).update(reply_domain=DOMAIN, reply_to=MERCHANT)
    store.refresh_from_db()
    customer = make_customer(store, now=clock.now(), email=CUSTOMER)
    message = make_scenario(store, now=clock.now(), customer=customer).message(
        "thank-you", now=clock.now()
    )
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.DELIVERED,
        sent_at=clock.now(),
        step_index=1,  # the flow's first email
        subject="Thanks for your order, Ada",
        message_id=SENT_ID,
    )
    message.refresh_from_db()
    return message


@pytest.fixture
def receiver_port() -> Iterator[int]:
    """The reply receiver on a free port of 127.0.0.1."""
    server = reply_server(host="127.0.0.1", port=0)
    server.start()
    try:
        yield int(server.port)
    finally:
        server.stop()


def a_reply(*, to: str, subject: str = "Re: Thanks for your order, Ada", **headers: str) -> bytes:
    """A reply from Ada as her mail program would write it."""
    email = ParsedEmail(policy=policy.SMTP)
    email["From"] = f"Ada Lovelace <{CUSTOMER}>"
    email["To"] = to
    email["Subject"] = subject
    email["Message-ID"] = make_msgid(domain="mail.example.org")
    for name, value in headers.items():
        email[name.replace("_", "-")] = value
    email.set_content("Hi! Does the granola come in a bigger bag? Grüße, Ada\n")
    return email.as_bytes()


def send_over_smtp(port: int, raw: bytes, *, to: str, sender: str = CUSTOMER) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [to], raw)


def replied(message: Message) -> int:
    return Event.objects.filter(message=message, kind=EventKind.REPLIED).count()


def attached_original(forward: mail.EmailMessage) -> ParsedEmail:
    """The reply attached to a forward, parsed."""
    (original,) = [m for m in forward.message().walk() if m.get_content_type() == "message/rfc822"]
    inner = original.get_payload(0)
    assert isinstance(inner, MimePart)
    parsed = message_from_bytes(inner.as_bytes(), policy=policy.default)
    assert isinstance(parsed, ParsedEmail)
    return parsed


@pytest.mark.django_db(transaction=True)
def test_a_reply_over_smtp_is_counted_once_and_forwarded_to_the_merchant(
    message: Message, receiver_port: int
) -> None:
    to = reply_address(message.pk, domain=DOMAIN).upper()  # mail systems may change case

    send_over_smtp(receiver_port, a_reply(to=to), to=to)
    send_over_smtp(receiver_port, a_reply(to=to, subject="Re: Re: one more thing"), to=to)

    assert replied(message) == 1
    first, second = mail.outbox
    assert (first.to, first.reply_to) == ([MERCHANT], [CUSTOMER])
    assert first.subject == "Re: Thanks for your order, Ada"
    assert first.extra_headers["X-Aftersale-Reply"] == "matched"
    assert first.extra_headers["X-Aftersale-Message"] == str(message.pk)
    assert "Does the granola come in a bigger bag?" in first.body
    assert "Grüße" in attached_original(first).get_content()
    assert second.subject == "Re: Re: one more thing"


@pytest.mark.django_db(transaction=True)
def test_the_smtp_receiver_refuses_mail_for_other_domains(
    message: Message, receiver_port: int
) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_over_smtp(receiver_port, a_reply(to="x@elsewhere.example"), to="x@elsewhere.example")

    assert refused.value.recipients["x@elsewhere.example"][0] == 550
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_a_reply_to_the_plain_reply_domain_is_matched_by_in_reply_to(
    message: Message, receiver_port: int
) -> None:
    to = f"shop@{DOMAIN}"

    send_over_smtp(receiver_port, a_reply(to=to, In_Reply_To=SENT_ID), to=to)

    assert replied(message) == 1
    assert mail.outbox[0].extra_headers["X-Aftersale-Reply"] == "matched"


@pytest.mark.django_db(transaction=True)
def test_an_unmatched_reply_is_forwarded_marked_unmatched(
    message: Message, receiver_port: int
) -> None:
    local = reply_address(message.pk, domain=DOMAIN).partition("@")[0]
    forged = f"{local[:-1]}{'1' if local.endswith('0') else '0'}@{DOMAIN}"  # one digit off

    send_over_smtp(receiver_port, a_reply(to=forged), to=forged)

    assert replied(message) == 0
    (forward,) = mail.outbox
    assert forward.subject == "[unmatched] Re: Thanks for your order, Ada"
    assert forward.extra_headers["X-Aftersale-Reply"] == "unmatched"
    assert (forward.to, forward.reply_to) == ([MERCHANT], [CUSTOMER])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto_Submitted": "auto-replied"}, CUSTOMER),
        ({"subject": "Out of Office: Thanks for your order, Ada"}, CUSTOMER),
        ({}, ""),  # a null envelope sender: a bounce or other notice
    ],
    ids=["auto-submitted", "out-of-office-subject", "null-sender"],
)
def test_an_automatic_answer_is_forwarded_but_never_counted(
    message: Message, receiver_port: int, headers: dict[str, str], sender: str
) -> None:
    to = reply_address(message.pk, domain=DOMAIN)

    send_over_smtp(receiver_port, a_reply(to=to, **headers), to=to, sender=sender)

    assert replied(message) == 0
    (forward,) = mail.outbox
    assert forward.extra_headers["X-Aftersale-Reply"] == "auto-reply"
    assert forward.subject.startswith("[auto-reply] ")


@pytest.mark.django_db(transaction=True)
def test_a_subject_hiding_a_line_break_cannot_inject_headers(
    message: Message, receiver_port: int
) -> None:
    to = reply_address(message.pk, domain=DOMAIN)
    sneaky = b"Subject: =?utf-8?q?Hello=0D=0ABcc=3A_victim=40example=2Ecom?="
    raw = a_reply(to=to, subject="placeholder").replace(b"Subject: placeholder", sneaky)

    send_over_smtp(receiver_port, raw, to=to)

    (forward,) = mail.outbox
    assert forward.subject == "Hello Bcc: victim@example.com"
    assert forward.bcc == []
    assert "Bcc" not in forward.message()


@pytest.mark.django_db(transaction=True)
def test_when_forwarding_fails_the_sending_server_is_told_to_retry(
    message: Message, receiver_port: int, settings: Settings
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    to = reply_address(message.pk, domain=DOMAIN)

    with pytest.raises(smtplib.SMTPDataError) as refused:
        send_over_smtp(receiver_port, a_reply(to=to), to=to)

    assert refused.value.smtp_code == 451  # the sender keeps the reply and tries again


def post_inbound(name: str, *, address: str, clock: VirtualClock) -> int:
    """POST the recorded Postmark inbound payload `name`, addressed to `address`."""
    body = (INBOUND / f"{name}.json").read_text().replace(RECORDED_REPLY_ADDRESS, address)
    token = base64.b64encode(SECRET.encode()).decode()
    with use_clock(clock), with_esp("postmark"):
        response = Client().post(
            "/esp/postmark/inbound/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Basic {token}",
        )
    return int(response.status_code)


def test_a_reply_through_an_esp_inbound_webhook_is_counted_in_the_report_and_forwarded(
    message: Message, clock: VirtualClock, settings: Settings
) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    address = reply_address(message.pk, domain=DOMAIN)

    assert post_inbound("inbound_reply", address=address, clock=clock) == 200
    assert post_inbound("inbound_out_of_office", address=address, clock=clock) == 200

    assert replied(message) == 1
    assert message.flow is not None
    report = flow_report(flow=message.flow, now=clock.now())
    assert [s.message.replied for s in report.steps if s.message] == [1, 0, 0]
    reply, out_of_office = mail.outbox
    assert (reply.to, reply.reply_to) == ([MERCHANT], [CUSTOMER])
    assert reply.extra_headers["X-Aftersale-Reply"] == "matched"
    assert out_of_office.extra_headers["X-Aftersale-Reply"] == "auto-reply"


def test_a_reply_for_no_stores_domain_is_kept_on_disk(
    message: Message, clock: VirtualClock, settings: Settings, tmp_path: Path
) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    settings.DATA_DIR = tmp_path
    Message.objects.filter(pk=message.pk).update(message_id="<another@shop.example.com>")

    assert post_inbound("inbound_reply", address="info@unknown.example", clock=clock) == 200

    assert mail.outbox == []
    (kept,) = (tmp_path / "replies" / "unrouted").glob("*.eml")
    text = message_from_bytes(kept.read_bytes(), policy=policy.default).get_body(("plain",))
    assert text is not None
    assert "Does the granola come in a bigger bag?" in text.get_content()


# --- the mailto: of List-Unsubscribe ---------------------------------------------------


@pytest.fixture
def offer(store: Store, clock: VirtualClock, settings: Settings) -> Message:
    """A marketing email to Ada from a store that receives mail on DOMAIN, not yet sent."""
    settings.PUBLIC_URL = PUBLIC
    Store.objects.filter(pk=store.pk).update(reply_domain=DOMAIN, reply_to=MERCHANT)
    store.refresh_from_db()
    customer = make_customer(store, now=clock.now(), email=CUSTOMER)
    return make_scenario(store, now=clock.now(), customer=customer).message(
        "cross-sell-offer", now=clock.now()
    )


def mailto_of(received: ParsedEmail) -> tuple[str, str]:
    """The address and subject of the mailto: in `received`'s List-Unsubscribe header."""
    targets = [t.strip().strip("<>") for t in str(received["List-Unsubscribe"]).split(",")]
    (mailto,) = [t for t in targets if t.startswith("mailto:")]
    address, _, query = mailto.removeprefix("mailto:").partition("?")
    return address, query.removeprefix("subject=")


def an_unsubscribe_mail(*, to: str, subject: str = "unsubscribe") -> bytes:
    """What a mail client sends for the mailto: of List-Unsubscribe (RFC 2369)."""
    return a_reply(to=to, subject=subject)


def unsubscribed(message: Message) -> bool:
    """Whether `message`'s recipient is unsubscribed the way the one-click link does it:
    consent withdrawn, address suppressed, one `unsubscribed` event."""
    message.customer.refresh_from_db()
    kinds = set(Event.objects.filter(message=message).values_list("kind", flat=True))
    reason = suppression_reason(store=message.store, email=message.to_email)
    done = (message.customer.unsubscribed_at is not None, reason, EventKind.UNSUBSCRIBED in kinds)
    assert done in {(False, None, False), (True, SuppressionReason.UNSUBSCRIBED, True)}, done
    return done[0]


@pytest.mark.django_db(transaction=True)
def test_the_list_unsubscribe_mailto_reaches_the_smtp_receiver_and_unsubscribes_the_recipient(
    offer: Message, clock: VirtualClock, receiver_port: int, tmp_path: Path
) -> None:
    received = send_one(offer, clock=clock, outbox=tmp_path)
    address, subject = mailto_of(received)

    send_over_smtp(receiver_port, an_unsubscribe_mail(to=address, subject=subject), to=address)

    assert address.endswith(f"@{DOMAIN}")  # Aftersale's receiver, not the merchant's inbox
    assert unsubscribed(offer)
    assert mail.outbox == []  # a request to a machine, not a reply to forward
    # A second mail (a client retrying) changes nothing more.
    send_over_smtp(receiver_port, an_unsubscribe_mail(to=address), to=address)
    assert Event.objects.filter(message=offer, kind=EventKind.UNSUBSCRIBED).count() == 1


def test_an_unsubscribe_mail_through_an_esp_inbound_webhook_unsubscribes_the_recipient(
    offer: Message, clock: VirtualClock, settings: Settings, tmp_path: Path
) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    address, _ = mailto_of(send_one(offer, clock=clock, outbox=tmp_path))

    assert post_inbound("inbound_reply", address=address.upper(), clock=clock) == 200

    assert unsubscribed(offer)
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_an_unsubscribe_mail_with_a_forged_token_unsubscribes_nobody(
    offer: Message, receiver_port: int, settings: Settings
) -> None:
    good = unsubscribe_address(offer.pk, domain=DOMAIN)
    local = good.partition("@")[0]
    forged = [
        f"{local[:-1]}{'1' if local.endswith('0') else '0'}@{DOMAIN}",  # one digit off
        f"unsubscribe+{offer.pk + 1}-{local[-16:]}@{DOMAIN}",  # another message's id
        f"unsubscribe+{offer.pk}@{DOMAIN}",  # no token
        reply_address(offer.pk, domain=DOMAIN).replace("reply+", "unsubscribe+"),
    ]

    for address in forged:
        send_over_smtp(receiver_port, an_unsubscribe_mail(to=address), to=address)

    assert not unsubscribed(offer)
    # Each is an ordinary unmatched mail, forwarded to the merchant as such.
    assert [m.extra_headers["X-Aftersale-Reply"] for m in mail.outbox] == ["unmatched"] * 4

"""Transports against real SMTP servers (aiosmtpd on 127.0.0.1) and anymail's test
backend: what each reply or error becomes, pipelining, TLS, STARTTLS and AUTH."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from aftersale.lib.env import ConfigurationError
from aftersale.messaging.delivery.transports.base import Outcome, OutgoingEmail
from aftersale.messaging.delivery.transports.config import (
    email_transport,
    esp_options,
    esp_settings,
)
from aftersale.messaging.delivery.transports.esp import (
    METADATA_KEY,
    AnymailTransport,
    BackendTransport,
)
from aftersale.messaging.mime import Email
from aftersale.messaging.models import MessageStatus
from aftersale.messaging.tests.smtp_servers import (
    DroppingHandler,
    RefusingHandler,
    ScriptedEsp,
    SenderRefusingHandler,
    authenticator,
    replaying_http,
    self_signed_certificate,
    server_tls_context,
    serving,
    smtp_connection,
    smtp_transport,
)


def outgoing(n: int, *, to: str = "") -> OutgoingEmail:
    email = Email(
        from_name="Test Shop",
        from_address="hello@shop.example.com",
        to=to or f"buyer{n}@example.org",
        subject=f"Email {n}",
        text=f"Hello {n}\n.\n",
        html=f"<p>Hello {n}</p>",
        message_id=f"<{n}@shop.example.com>",
        date=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    return OutgoingEmail(message_pk=n, email=email)


@pytest.mark.parametrize("pipelining", [True, False])
def test_smtp_sends_a_batch_over_one_connection_pipelined_when_offered(pipelining: bool) -> None:
    handler = RefusingHandler(pipelining=pipelining)
    with serving(handler) as port:
        transport = smtp_transport(port)
        results = transport.send([outgoing(n) for n in range(5)])
        transport.close()
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert handler.recipients() == [f"buyer{n}@example.org" for n in range(5)]
    assert len({peer for peer, _ in handler.received}) == 1
    # Pipelined, each MAIL FROM arrives together with its RCPT TO; otherwise alone.
    assert handler.rcpt_arrived_with_mail == [pipelining] * 5


def test_smtp_classifies_each_reply_of_a_pipelined_batch_and_goes_on_after_a_refusal() -> None:
    class Mixed(RefusingHandler):
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            replies = {
                "buyer1@example.org": "550 5.1.1 No such mailbox",
                "buyer2@example.org": "452 4.2.2 Mailbox full",
            }
            if address in replies:
                return replies[address]
            return await super().handle_RCPT(server, session, envelope, address, options)

    handler = Mixed(pipelining=True)
    with serving(handler) as port:
        results = smtp_transport(port).send([outgoing(n) for n in range(4)])
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.DEFERRED,
        Outcome.ACCEPTED,
    ]
    assert results[1].detail == "RCPT: 550 5.1.1 No such mailbox"
    assert "452" in results[2].detail
    assert handler.recipients() == ["buyer0@example.org", "buyer3@example.org"]


def test_a_connection_dropped_mid_batch_defers_that_email_and_the_rest_go_over_a_new_one() -> None:
    handler = DroppingHandler(times=1, pipelining=True)
    with serving(handler) as port:
        results = smtp_transport(port).send([outgoing(n) for n in range(4)])
    assert [r.outcome for r in results] == [Outcome.DEFERRED] + [Outcome.ACCEPTED] * 3
    assert "connection lost" in results[0].detail
    assert handler.recipients() == [f"buyer{n}@example.org" for n in (1, 2, 3)]  # each once
    assert len({peer for peer, _ in handler.received}) == 1  # all over the second connection


def test_a_421_defers_that_email_and_the_transport_reconnects_for_the_rest() -> None:
    handler = RefusingHandler("421 4.3.2 Shutting down", times=1, pipelining=True)
    with serving(handler) as port:
        results = smtp_transport(port).send([outgoing(n) for n in range(3)])
    assert [r.outcome for r in results] == [Outcome.DEFERRED, Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert handler.recipients() == ["buyer1@example.org", "buyer2@example.org"]


def test_an_unreachable_server_leaves_the_first_email_unavailable_and_takes_no_more() -> None:
    with serving(RefusingHandler()) as port:
        pass  # nobody listens there any more
    taken: list[int] = []

    def emails() -> Iterator[OutgoingEmail]:
        for n in range(3):
            taken.append(n)
            yield outgoing(n)

    results = smtp_transport(port).send(emails())
    assert [r.outcome for r in results] == [Outcome.UNAVAILABLE]
    assert taken == [0]  # the others were never built, and stay due


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_refused_sender_stops_the_batch_unavailable_and_blames_no_email(
    pipelining: bool,
) -> None:
    handler = SenderRefusingHandler("550 5.7.1 Relaying denied", times=1, pipelining=pipelining)
    taken: list[int] = []

    def emails() -> Iterator[OutgoingEmail]:
        for n in range(4):
            taken.append(n)
            yield outgoing(n)

    with serving(handler) as port:
        transport = smtp_transport(port)
        refused = transport.send(emails())
        retried = transport.send([outgoing(n) for n in range(2)])  # the relay was fixed
        transport.close()
    assert {r.outcome for r in refused} == {Outcome.UNAVAILABLE} and len(refused) == len(taken)
    # The one refused only: the next is built once an email's content is on its way.
    assert taken == [0]
    expected = "MAIL FROM:<hello@shop.example.com> refused: 550 5.7.1 Relaying denied"
    assert all(expected in r.detail for r in refused)
    assert [r.outcome for r in retried] == [Outcome.ACCEPTED] * 2
    assert handler.refused_senders == ["hello@shop.example.com"]


def test_through_a_django_smtp_backend_a_refused_sender_is_unavailable_not_a_bounce() -> None:
    handler = SenderRefusingHandler("550 5.7.1 Relaying denied", times=1)
    with serving(handler) as port:
        transport = BackendTransport(smtp_connection(port))
        results = transport.send([outgoing(n) for n in range(3)])
        transport.close()
    assert [r.outcome for r in results] == [Outcome.UNAVAILABLE]  # the rest not tried
    assert "MAIL FROM:<hello@shop.example.com> refused: 550 5.7.1 Relaying denied" in (
        results[0].detail
    )


# Postmark's recorded answers (its API reference, "Error codes").
POSTMARK_BAD_TOKEN = (
    401,
    {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."},
)
POSTMARK_NO_SENDER_SIGNATURE = (
    422,
    {
        "ErrorCode": 400,
        "Message": "The 'From' address you supplied (hello@shop.example.com) is not a Sender "
        "Signature on your account. Please add and confirm this address in order to be able "
        "to use it in the 'From' field of your messages.",
    },
)
POSTMARK_INACTIVE_RECIPIENT = (
    422,
    {
        "ErrorCode": 406,
        "Message": "You tried to send to a recipient that has been marked as inactive.\n"
        "Found inactive addresses: buyer0@example.org.\nInactive recipients are ones that "
        "have generated a hard bounce, a spam complaint, or a manual suppression.",
    },
)


@pytest.mark.parametrize(
    "recorded", [POSTMARK_BAD_TOKEN, POSTMARK_NO_SENDER_SIGNATURE], ids=["token", "signature"]
)
def test_an_email_service_refusing_the_account_is_unavailable_not_a_failure(
    recorded: tuple[int, dict[str, object]],
) -> None:
    status, body = recorded
    with replaying_http(status, json.dumps(body).encode(), "application/json") as (url, posts):
        transport = AnymailTransport.for_esp("postmark", server_token="wrong", api_url=url)
        results = transport.send([outgoing(n) for n in range(3)])
    assert [r.outcome for r in results] == [Outcome.UNAVAILABLE]  # the rest not tried
    assert [path for path, _ in posts] == ["/email"]
    assert str(status) in results[0].detail and str(body["Message"])[:40] in results[0].detail


def test_an_email_service_refusing_the_recipient_still_rejects_only_that_email() -> None:
    status, body = POSTMARK_INACTIVE_RECIPIENT
    with replaying_http(status, json.dumps(body).encode(), "application/json") as (url, posts):
        transport = AnymailTransport.for_esp("postmark", server_token="token", api_url=url)
        results = transport.send([outgoing(n) for n in range(2)])
    # The same recorded answer to both names buyer0 only: the other one went ("unknown").
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.ACCEPTED]
    assert len(posts) == 2


class LoggingHandler(RefusingHandler):
    """Logs each email the moment it accepts it (its end of data has arrived)."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(pipelining=True)
        self.events = events

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.events.append(f"relay accepted {envelope.rcpt_tos[0].split('@')[0][5:]}")
        return await super().handle_DATA(server, session, envelope)


def test_each_email_is_built_while_the_relay_reads_the_one_before_and_recorded_in_time() -> None:
    events: list[str] = []

    def emails() -> Iterator[OutgoingEmail]:
        for n in range(3):
            events.append(f"built {n}")
            yield outgoing(n)

    with serving(LoggingHandler(events)) as port:
        results = smtp_transport(port).send(
            emails(),
            on_result=lambda index, result: events.append(f"settled {index}"),
            recorded=lambda: events.append("recorded"),
        )
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    # Email n+1 is built while the relay reads email n's content (and the caller's
    # record of email n-1 is on its way); the relay can accept email n+1 only after
    # `recorded` said email n is recorded, so never two are accepted and unrecorded.
    assert events == [
        "built 0",
        "built 1",
        "recorded",
        "relay accepted 0",
        "settled 0",
        "built 2",
        "recorded",
        "relay accepted 1",
        "settled 1",
        "recorded",
        "relay accepted 2",
        "settled 2",
        "recorded",
    ]


def test_a_record_that_fails_stops_the_send_before_the_next_email_can_be_accepted() -> None:
    handler = RefusingHandler(pipelining=True)
    calls: list[int] = []

    def recorded() -> None:
        calls.append(1)
        if len(calls) == 2:  # email 0's record, waited for before email 1's end of data
            raise RuntimeError("the database went away")

    with serving(handler) as port:
        transport = smtp_transport(port, timeout=60)
        with pytest.raises(RuntimeError):
            transport.send([outgoing(n) for n in range(3)], recorded=recorded)
        # Email 1's content went but not its end of data: the relay took nothing of it,
        # and the transport's next send starts on a clean session at once (a command
        # written into that email's content would wait out the 60 s for a reply).
        started = time.monotonic()
        later = transport.send([outgoing(5)])
        transport.close()
        assert time.monotonic() - started < 30
    assert [r.outcome for r in later] == [Outcome.ACCEPTED]
    assert handler.recipients() == ["buyer0@example.org", "buyer5@example.org"]


def test_an_address_that_would_inject_commands_fails_alone() -> None:
    handler = RefusingHandler(pipelining=True)
    evil = outgoing(1, to="buyer1@example.org>\r\nRCPT TO:<victim@example.org")
    with serving(handler) as port:
        results = smtp_transport(port).send([outgoing(0), evil, outgoing(2)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.FAILED, Outcome.ACCEPTED]
    assert "not a plain ASCII email address" in results[1].detail
    assert handler.recipients() == ["buyer0@example.org", "buyer2@example.org"]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path)


def test_starttls_and_auth(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    handler = RefusingHandler()
    options = {
        "tls_context": server_tls_context(cert, key),
        "require_starttls": True,
        "authenticator": authenticator("shop", "s3cret"),
        "auth_required": True,
    }
    with serving(handler, **options) as port:
        good = smtp_transport(
            port, security="starttls", cafile=cert, username="shop", password="s3cret"
        )
        wrong = smtp_transport(
            port, security="starttls", cafile=cert, username="shop", password="guess"
        )
        plain = smtp_transport(port, username="shop", password="s3cret")
        assert good.send([outgoing(0)])[0].outcome is Outcome.ACCEPTED
        refused = wrong.send([outgoing(1)])[0]
        no_tls = plain.send([outgoing(2)])[0]
    assert refused.outcome is Outcome.UNAVAILABLE and "AUTH refused: 535" in refused.detail
    assert no_tls.outcome is Outcome.UNAVAILABLE  # AUTH is only offered after STARTTLS
    assert handler.recipients() == ["buyer0@example.org"]


def test_tls_from_the_first_byte_and_an_untrusted_certificate_is_refused(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    handler = RefusingHandler()
    with serving(handler, ssl_context=server_tls_context(cert, key)) as port:
        trusted = smtp_transport(port, security="tls", cafile=cert).send([outgoing(0)])[0]
        untrusted = smtp_transport(port, security="tls").send([outgoing(1)])[0]
    assert trusted.outcome is Outcome.ACCEPTED
    assert (
        untrusted.outcome is Outcome.UNAVAILABLE and "CERTIFICATE_VERIFY_FAILED" in untrusted.detail
    )
    assert handler.recipients() == ["buyer0@example.org"]


def test_anymail_transport_records_the_esp_id_and_classifies_statuses_and_errors() -> None:
    transport = AnymailTransport(
        ScriptedEsp(ignore_recipient_status=True)  # type: ignore[no-untyped-call]
    )
    emails = [outgoing(1), outgoing(2, to="bounce@example.org"), outgoing(3, to="down@example.org")]
    results = transport.send(emails)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.DEFERRED]
    assert results[0].provider_id == "esp-buyer1@example.org"
    assert "503" in results[2].detail
    assert AnymailTransport.accepted_status == MessageStatus.SENT  # webhooks say delivered
    sent = mail.outbox[-3]
    assert isinstance(sent, EmailMultiAlternatives)
    assert sent.metadata == {METADATA_KEY: "1"}  # type: ignore[attr-defined]
    assert sent.extra_headers["Message-ID"] == "<1@shop.example.com>"
    assert sent.alternatives[0][1] == "text/html"


def test_the_transport_setting_accepts_smtp_or_an_anymail_esp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERSALE_EMAIL_TRANSPORT", "anymail:postmark")
    monkeypatch.setenv("AFTERSALE_ESP_API_KEY", "key-123")
    monkeypatch.setenv("AFTERSALE_ESP_MESSAGE_STREAM", "outbound")
    assert email_transport() == "anymail:postmark"
    assert esp_options("anymail:postmark") == {
        "server_token": "key-123",
        "message_stream": "outbound",
    }
    assert esp_options("smtp") == {}
    for bad in ("sendmail", "anymail:nosuchesp", "anymail:"):
        monkeypatch.setenv("AFTERSALE_EMAIL_TRANSPORT", bad)
        with pytest.raises(ConfigurationError, match="AFTERSALE_EMAIL_TRANSPORT"):
            email_transport()


def test_the_esp_options_reach_anymails_webhook_views_as_esp_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERSALE_ESP_API_KEY", "key-123")
    monkeypatch.setenv("AFTERSALE_ESP_SIGNING_SECRET", "signing-secret")
    options = esp_options("anymail:mailersend")

    assert esp_settings("anymail:mailersend", options) == {
        "MAILERSEND_API_TOKEN": "key-123",
        "MAILERSEND_SIGNING_SECRET": "signing-secret",
    }
    assert esp_settings("smtp", {}) == {}


def test_the_esp_key_is_read_from_the_file_its_file_variable_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "esp-key").write_text("key-from-file\n")
    monkeypatch.delenv("AFTERSALE_ESP_API_KEY", raising=False)
    monkeypatch.setenv("AFTERSALE_ESP_API_KEY_FILE", str(tmp_path / "esp-key"))
    assert esp_options("anymail:postmark") == {"server_token": "key-from-file"}
    monkeypatch.setenv("AFTERSALE_ESP_API_KEY", "key-123")
    with pytest.raises(ConfigurationError, match="AFTERSALE_ESP_API_KEY_FILE"):
        esp_options("anymail:postmark")

"""ESP tracking webhooks: recorded Postmark, Mailgun, SendGrid and Amazon SES (SNS) payloads
replayed through anymail's real webhook URLs, and what they do to statuses, suppressions
and events."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.http import HttpResponse
from django.test import Client
from pytest_django.fixtures import Settings

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Message, MessageStatus, SuppressionReason
from aftersale.messaging.outbox.selectors import suppression_reason
from aftersale.messaging.rendering.links import click_token
from aftersale.messaging.tests.factories import make_customer, make_scenario
from aftersale.messaging.tests.smtp_servers import replaying_http
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.selectors import human_open_filter
from aftersale.tracking.tests.helpers import PUBLIC, with_esp

PAYLOADS = Path(__file__).parent / "payloads"
# When the recorded payloads' message was handed over: the clock fixture's start.
T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
SECRET = "aftersale:webhook-test-secret"
MAILGUN_SIGNING_KEY = "mailgun-test-signing-key"  # the key the recorded signatures use
RECIPIENT = "ada@example.org"  # the recipient in every recorded payload
OTHER_LINK = "https://shop.example.com/?utm_source=aftersale"
CLICKED_LINK = (
    "https://shop.example.com/p/1?utm_source=aftersale&utm_medium=email"
    "&utm_campaign=post-purchase-upsell&utm_content=step-1"
)


def no_headers(body: bytes) -> dict[str, str]:
    return {}


def sns_headers(body: bytes) -> dict[str, str]:
    """The headers Amazon SNS sends with a message, which must match its body."""
    sns_message = json.loads(body)
    return {
        "x-amz-sns-message-type": sns_message["Type"],
        "x-amz-sns-message-id": sns_message["MessageId"],
        "x-amz-sns-topic-arn": sns_message["TopicArn"],
    }


@dataclass(frozen=True)
class Esp:
    name: str
    url: str
    message_id: str  # the id the ESP gave the message in its recorded payloads
    content_type: str = "application/json"
    headers: Callable[[bytes], dict[str, str]] = no_headers  # extra headers for a body

    def __str__(self) -> str:
        return self.name


POSTMARK = Esp("postmark", "/esp/postmark/tracking/", "883953f4-6105-42a2-a16a-77a8eac79483")
MAILGUN = Esp(
    "mailgun",
    "/esp/mailgun/tracking/",
    "<20240304090000.1.5E2B0F1D9C3A7B64@mg.shop.example.com>",
)
SENDGRID = Esp("sendgrid", "/esp/sendgrid/tracking/", "6a1f7e3c-2b9d-4c1e-9f0a-7d3c5b8e1a24")
# SES event publishing: configuration set -> SNS topic -> an HTTPS subscription. SNS posts
# JSON as text/plain; the SES event is the JSON string in the SNS message's "Message".
AMAZON_SES = Esp(
    "amazon_ses",
    "/esp/amazon_ses/tracking/",
    "0102018e08a3c4d5-7f3e9b21-5c6d-4e8f-9a0b-1c2d3e4f5a6b-000000",
    content_type="text/plain; charset=UTF-8",
    headers=sns_headers,
)
ESPS = [POSTMARK, MAILGUN, SENDGRID, AMAZON_SES]

pytestmark = pytest.mark.filterwarnings(
    "ignore::anymail.exceptions.AnymailNotSupportedWarning"  # anymail's note on SendGrid
)


@pytest.fixture(autouse=True)
def _webhook_settings(settings: Settings) -> None:
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": SECRET,
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY,
    }
    settings.PUBLIC_URL = PUBLIC


@pytest.fixture
def message(store: Store, clock: VirtualClock) -> Message:
    """A thank-you email handed over to an ESP at T0, an hour ago."""
    customer = make_customer(store, now=clock.now(), email=RECIPIENT)
    message = make_scenario(store, now=clock.now(), customer=customer).message(
        "thank-you", now=clock.now()
    )
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENT,
        sent_at=T0,
        message_id="<170954280000.1.42@shop.example.com>",
        tracked_urls=[OTHER_LINK, CLICKED_LINK],
    )
    clock.advance(dt.timedelta(hours=1))
    message.refresh_from_db()
    return message


def handed_to(esp: Esp, message: Message) -> Message:
    """`message` as the transport left it after `esp` accepted it: with the ESP's id."""
    Message.objects.filter(pk=message.pk).update(esp_message_id=esp.message_id)
    message.refresh_from_db()
    return message


def payload(esp: Esp, name: str) -> bytes:
    return (PAYLOADS / esp.name / f"{name}.json").read_bytes()


def replay(
    esp: Esp, name: str, *, clock: VirtualClock, body: bytes | None = None, auth: str = SECRET
) -> HttpResponse:
    """POST the recorded payload `name` of `esp` (or `body`) to its webhook URL."""
    token = base64.b64encode(auth.encode()).decode()
    client = Client(raise_request_exception=False)  # answer errors as the ESP would see them
    data = body if body is not None else payload(esp, name)
    with use_clock(clock), with_esp(esp.name):
        response = client.post(
            esp.url,
            data,
            content_type=esp.content_type,
            HTTP_AUTHORIZATION=f"Basic {token}",
            headers=esp.headers(data),
        )
    assert isinstance(response, HttpResponse)
    return response


def with_ses_event(name: str, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """The recorded SNS notification `name` with its SES event changed by `edit`."""
    sns_message = json.loads(payload(AMAZON_SES, name))
    ses_event = json.loads(sns_message["Message"])
    edit(ses_event)
    sns_message["Message"] = json.dumps(ses_event)
    return json.dumps(sns_message).encode()


def events(message: Message, kind: EventKind) -> list[Event]:
    return list(Event.objects.filter(message=message, kind=kind))


@pytest.mark.parametrize("esp", ESPS, ids=str)
def test_a_delivery_report_marks_a_sent_message_delivered(
    esp: Esp, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    assert replay(esp, "delivered", clock=clock).status_code == 200

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.delivered_at is not None
    assert T0 <= message.delivered_at < T0 + dt.timedelta(seconds=10)  # the ESP's time


@pytest.mark.parametrize("esp", ESPS, ids=str)
def test_a_hard_bounce_marks_the_message_bounced_and_suppresses_the_address(
    esp: Esp, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    assert replay(esp, "hard_bounce", clock=clock).status_code == 200
    assert replay(esp, "hard_bounce", clock=clock).status_code == 200  # ESPs resend events

    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    assert message.bounced_at is not None
    assert "bounced" in message.error
    assert suppression_reason(store=message.store, email=RECIPIENT) == SuppressionReason.HARD_BOUNCE
    assert len(events(message, EventKind.BOUNCED)) == 1


def test_a_message_the_esp_refused_to_send_counts_as_a_hard_bounce(
    message: Message, clock: VirtualClock
) -> None:
    handed_to(SENDGRID, message)

    replay(SENDGRID, "rejected", clock=clock)  # SendGrid "dropped": a bounced address

    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    assert suppression_reason(store=message.store, email=RECIPIENT) == SuppressionReason.HARD_BOUNCE


def test_a_message_amazon_ses_refused_for_its_content_bounces_but_suppresses_nothing(
    message: Message, clock: VirtualClock
) -> None:
    handed_to(AMAZON_SES, message)

    replay(AMAZON_SES, "rejected", clock=clock)  # SES Reject, "Bad content": a virus

    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    assert "Bad content" in message.error
    assert suppression_reason(store=message.store, email=RECIPIENT) is None


@pytest.mark.parametrize(
    ("esp", "name", "status"),
    [
        (POSTMARK, "soft_bounce", MessageStatus.BOUNCED),  # SoftBounce: Postmark gave up
        (MAILGUN, "soft_bounce", MessageStatus.SENT),  # temporary: Mailgun will try again
        (SENDGRID, "soft_bounce", MessageStatus.BOUNCED),  # a "blocked" bounce, a deferral
        (AMAZON_SES, "soft_bounce", MessageStatus.BOUNCED),  # a Transient (MailboxFull) bounce
        (AMAZON_SES, "delivery_delay", MessageStatus.SENT),  # DeliveryDelay: SES will retry
    ],
    ids=["postmark", "mailgun", "sendgrid", "amazon_ses-transient", "amazon_ses-delay"],
)
def test_a_soft_bounce_or_a_deferral_suppresses_nothing(
    esp: Esp, name: str, status: MessageStatus, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    assert replay(esp, name, clock=clock).status_code == 200

    message.refresh_from_db()
    assert message.status == status
    assert suppression_reason(store=message.store, email=RECIPIENT) is None
    assert events(message, EventKind.BOUNCED) == []


@pytest.mark.parametrize("esp", ESPS, ids=str)
def test_a_late_delivery_report_does_not_undo_a_bounce(
    esp: Esp, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    replay(esp, "hard_bounce", clock=clock)
    assert replay(esp, "delivered", clock=clock).status_code == 200

    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    assert message.delivered_at is None


def test_a_delivery_report_for_a_message_not_handed_over_is_refused(
    message: Message, clock: VirtualClock
) -> None:
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.QUEUED, sent_at=None)
    handed_to(POSTMARK, message)

    assert replay(POSTMARK, "delivered", clock=clock).status_code == 200

    message.refresh_from_db()
    assert (message.status, message.delivered_at) == (MessageStatus.QUEUED, None)


@pytest.mark.parametrize("esp", ESPS, ids=str)
def test_a_complaint_suppresses_the_address_and_is_recorded(
    esp: Esp, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    replay(esp, "complaint", clock=clock)

    assert suppression_reason(store=message.store, email=RECIPIENT) == SuppressionReason.COMPLAINT
    assert len(events(message, EventKind.COMPLAINED)) == 1


@pytest.mark.parametrize(
    "esp",
    [
        POSTMARK,
        MAILGUN,
        SENDGRID,
        pytest.param(
            AMAZON_SES,
            marks=pytest.mark.skip(
                reason="Amazon SES reports no list-unsubscribe event: our own one-click "
                "unsubscribe handles it (SES's Subscription events are its contact lists')"
            ),
        ),
    ],
    ids=str,
)
def test_an_unsubscribe_report_unsubscribes_the_customer(
    esp: Esp, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    replay(esp, "unsubscribe", clock=clock)

    message.customer.refresh_from_db()
    assert message.customer.unsubscribed_at is not None
    reason = suppression_reason(store=message.store, email=RECIPIENT)
    assert reason == SuppressionReason.UNSUBSCRIBED
    assert len(events(message, EventKind.UNSUBSCRIBED)) == 1


@pytest.mark.parametrize("esp", ESPS, ids=str)
def test_opens_and_clicks_record_the_once_per_message_events_of_the_pixel_and_redirect(
    esp: Esp, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    for name in ("opened", "clicked", "opened", "clicked"):
        assert replay(esp, name, clock=clock).status_code == 200

    (opened,) = events(message, EventKind.OPENED)
    assert opened.data["machine"] is False
    assert Event.objects.filter(human_open_filter(), message=message).count() == 1
    (clicked,) = events(message, EventKind.CLICKED)
    assert (clicked.once_key, clicked.url) == ("click:1", CLICKED_LINK)
    assert T0 < clicked.occurred_at <= clock.now()


def test_an_open_the_esp_flags_as_a_machine_is_not_a_read(
    message: Message, clock: VirtualClock
) -> None:
    handed_to(SENDGRID, message)

    replay(SENDGRID, "machine_opened", clock=clock)  # Apple Mail Privacy Protection

    (opened,) = events(message, EventKind.OPENED)
    assert opened.data["machine"] is True
    assert not Event.objects.filter(human_open_filter(), message=message).exists()


def test_a_click_the_esp_saw_on_our_own_redirect_counts_for_that_link(
    message: Message, clock: VirtualClock
) -> None:
    handed_to(POSTMARK, message)
    recorded = json.loads(payload(POSTMARK, "clicked"))
    recorded["OriginalLink"] = f"{PUBLIC}/c/{click_token(message.pk, 0)}/"

    replay(POSTMARK, "clicked", clock=clock, body=json.dumps(recorded).encode())

    (clicked,) = events(message, EventKind.CLICKED)
    assert clicked.once_key == "click:0"


def test_without_the_esp_id_a_message_is_found_by_its_message_id_header(
    message: Message, clock: VirtualClock
) -> None:
    Message.objects.filter(pk=message.pk).update(message_id=MAILGUN.message_id)

    replay(MAILGUN, "delivered", clock=clock)  # Mailgun reports the Message-ID header

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_without_the_esp_id_a_message_is_found_by_our_id_in_the_metadata(
    message: Message, clock: VirtualClock
) -> None:
    recorded = json.loads(payload(POSTMARK, "delivered"))
    recorded["Metadata"] = {"aftersale_message": str(message.pk)}

    replay(POSTMARK, "delivered", clock=clock, body=json.dumps(recorded).encode())

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_without_the_esp_id_an_amazon_ses_event_finds_the_message_by_its_x_metadata_header(
    message: Message, clock: VirtualClock
) -> None:
    def our_metadata(ses_event: dict[str, Any]) -> None:
        (header,) = [h for h in ses_event["mail"]["headers"] if h["name"] == "X-Metadata"]
        header["value"] = json.dumps({"aftersale_message": str(message.pk)})

    replay(AMAZON_SES, "delivered", clock=clock, body=with_ses_event("delivered", our_metadata))

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_an_event_about_no_message_of_ours_is_answered_200_and_changes_nothing(
    message: Message, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    response = replay(POSTMARK, "hard_bounce", clock=clock)  # an id we never stored

    assert response.status_code == 200  # or the ESP would retry it for days
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert suppression_reason(store=message.store, email=RECIPIENT) is None
    assert "for no message of ours" in caplog.text


def test_an_event_for_another_recipient_never_touches_the_message(
    message: Message, clock: VirtualClock
) -> None:
    handed_to(POSTMARK, message)
    Message.objects.filter(pk=message.pk).update(to_email="someone.else@example.org")

    assert replay(POSTMARK, "hard_bounce", clock=clock).status_code == 200

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert suppression_reason(store=message.store, email=RECIPIENT) is None


def without_recipient(esp: Esp, name: str) -> bytes:
    """The recorded payload `name` of `esp` with every field naming the recipient gone."""
    data = json.loads(payload(esp, name))
    for key in ("Email", "Recipient", "email", "recipient"):
        data.pop(key, None)
    return json.dumps(data).encode()


@pytest.mark.parametrize("name", ["complaint", "hard_bounce", "unsubscribe"])
def test_postmark_spam_complaint_without_recipient_suppresses_nobody(
    name: str, message: Message, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # The attack: a payload naming only a message id (ours are sequential).
    handed_to(POSTMARK, message)

    response = replay(POSTMARK, name, clock=clock, body=without_recipient(POSTMARK, name))

    assert response.status_code == 200  # answered, so that an ESP would not retry
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.customer.unsubscribed_at is None
    assert suppression_reason(store=message.store, email=RECIPIENT) is None
    assert not Event.objects.filter(message=message).exists()
    assert "without a recipient" in caplog.text


def test_an_event_naming_our_message_id_for_another_recipient_changes_nothing(
    message: Message, clock: VirtualClock
) -> None:
    body = json.loads(payload(POSTMARK, "complaint"))
    body.update(MessageID="unknown", Metadata={"aftersale_message": str(message.pk)})
    body["Email"] = "mallory@example.net"

    response = replay(POSTMARK, "complaint", clock=clock, body=json.dumps(body).encode())

    assert response.status_code == 200
    assert suppression_reason(store=message.store, email=RECIPIENT) is None
    assert suppression_reason(store=message.store, email="mallory@example.net") is None


@pytest.mark.parametrize("esp", ESPS, ids=str)
def test_a_webhook_call_without_the_secret_is_refused(
    esp: Esp, message: Message, clock: VirtualClock
) -> None:
    handed_to(esp, message)

    response = replay(esp, "hard_bounce", clock=clock, auth="aftersale:guessed")

    assert response.status_code == 400
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


@pytest.mark.parametrize(
    "body",
    [
        b'{"signature": {"timestamp": "1709542804"',  # cut short
        payload(MAILGUN, "delivered").replace(b"a8ce0edb", b"a8ce0edc"),  # forged token
    ],
    ids=["truncated", "bad-signature"],
)
def test_a_malformed_or_forged_payload_gets_anymails_error_and_changes_nothing(
    body: bytes, message: Message, clock: VirtualClock
) -> None:
    handed_to(MAILGUN, message)

    response = replay(MAILGUN, "delivered", clock=clock, body=body)

    assert response.status_code == 400
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


@pytest.fixture
def sns_calls(settings: Settings) -> Iterator[list[tuple[str, bytes]]]:
    """Amazon SNS's query API on 127.0.0.1, where anymail's boto3 client sends its calls
    instead of to AWS (signed with example keys): the calls it receives (their form
    parameters: `_form_calls`), each answered with SNS's recorded ConfirmSubscription
    response."""
    answer = (PAYLOADS / AMAZON_SES.name / "confirm_subscription_response.xml").read_bytes()
    with replaying_http(200, answer, "text/xml") as (url, posts):
        settings.ANYMAIL = {
            **settings.ANYMAIL,
            "AMAZON_SES_SESSION_PARAMS": {
                "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            },
            "AMAZON_SES_CLIENT_PARAMS": {"endpoint_url": url.rstrip("/")},
        }
        yield posts


def _form_calls(posts: list[tuple[str, bytes]]) -> list[dict[str, str]]:
    """The form parameters of each call SNS received."""
    return [dict(parse_qsl(body.decode())) for _, body in posts]


def test_an_sns_subscription_is_confirmed_with_sns_and_changes_nothing_of_ours(
    message: Message, clock: VirtualClock, sns_calls: list[tuple[str, bytes]]
) -> None:
    handed_to(AMAZON_SES, message)
    subscription = json.loads(payload(AMAZON_SES, "subscription_confirmation"))

    assert replay(AMAZON_SES, "subscription_confirmation", clock=clock).status_code == 200
    # Then SES tells the new subscriber that the topic works.
    assert replay(AMAZON_SES, "topic_validated", clock=clock).status_code == 200

    (call,) = _form_calls(sns_calls)
    assert call["Action"] == "ConfirmSubscription"
    assert (call["TopicArn"], call["Token"]) == (subscription["TopicArn"], subscription["Token"])
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert not Event.objects.filter(message=message).exists()


def test_an_sns_subscription_without_the_secret_is_not_confirmed(
    clock: VirtualClock, sns_calls: list[tuple[str, bytes]]
) -> None:
    response = replay(
        AMAZON_SES, "subscription_confirmation", clock=clock, auth="aftersale:guessed"
    )

    assert response.status_code == 400
    assert sns_calls == []  # someone else's topic must not subscribe us

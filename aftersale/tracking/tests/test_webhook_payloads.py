"""Malformed requests to every ESP's webhooks, each ESP configured in turn: bad JSON, an
empty body, the wrong content type, JSON of the wrong shape, and a few hundred payloads
hypothesis generates. None is a server error, and none changes a message, a suppression,
a customer's consent or an event."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.http import HttpResponse
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from aftersale.customers.models import Customer
from aftersale.messaging.models import Message, MessageStatus, Suppression
from aftersale.messaging.tests.factories import make_customer, make_scenario
from aftersale.stores.models import Store
from aftersale.tracking.models import Event
from aftersale.tracking.tests.helpers import with_esp

SECRET = "aftersale:webhook-test-secret"
# Every setting the ESPs' webhook views need to start (see tracking/webhooks.py's check).
ANYMAIL = {
    "WEBHOOK_SECRET": SECRET,
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-signing-key",
    "MAILERSEND_SIGNING_SECRET": "mailersend-signing-secret",
    "MAILERSEND_INBOUND_SECRET": "mailersend-inbound-secret",
    "MANDRILL_WEBHOOK_KEY": "mandrill-webhook-key",
    "POSTAL_WEBHOOK_KEY": "cG9zdGFsLWtleQ==",
    "BREVO_API_KEY": "brevo-api-key",
    "RESEND_API_KEY": "resend-api-key",
    "UNISENDER_GO_API_KEY": "unisender-go-api-key",
    "MAILTRAP_API_TOKEN": "mailtrap-api-token",
}
# Every ESP anymail has webhooks for (docs/webhooks.md), and its endpoints.
ENDPOINTS = [
    (esp, f"/esp/{esp}/{kind}/")
    for esp in (
        "amazon_ses",
        "brevo",
        "mailersend",
        "mailgun",
        "mailjet",
        "mailtrap",
        "postal",
        "postmark",
        "resend",
        "sendgrid",
        "sparkpost",
    )
    for kind in ("tracking", "inbound")
] + [("mandrill", "/esp/mandrill/"), ("unisender_go", "/esp/unisender_go/tracking/")]
GOOD_AUTH = "Basic " + base64.b64encode(SECRET.encode()).decode()
AUTHS = [GOOD_AUTH, "Basic " + base64.b64encode(b"aftersale:guessed").decode(), ""]
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]
UNREADABLE = {
    "truncated json": b'{"RecordType": "SpamComplaint", "MessageID": ',
    "empty body": b"",
    "not utf-8": b"\xff\xfe{\x00",
}
WRONG_SHAPE = {
    "a list": b'[1, [], {}, null, "Bounce"]',
    "a string": b'"SpamComplaint"',
    "null": b"null",
    "nested nulls": json.dumps(
        {
            "RecordType": None,
            "MessageID": None,
            "Metadata": None,
            "event-data": {"event": None, "recipient": None, "message": None},
            "signature": None,
            "Type": "Notification",
            "MessageId": None,
            "Message": None,
            "msys": {"message_event": None},
            "mandrill_events": None,
            "data": None,
        }
    ).encode(),
}
# Names the ESPs' payloads use, so that generated payloads get past the first lookups.
KEYS = [
    "RecordType", "MessageID", "Email", "Recipient", "Metadata", "Tag", "BouncedAt",
    "ReceivedAt", "DeliveredAt", "Type", "event", "event-data", "signature", "timestamp",
    "token", "recipient", "message", "headers", "message-id", "user-variables", "email",
    "sg_message_id", "smtp-id", "msys", "message_event", "Message", "MessageId",
    "TopicArn", "notificationType", "eventType", "mail", "bounce", "complaint", "events",
    "data", "type", "created_at", "FromFull", "ToFull", "OriginalRecipient", "Headers",
    "Attachments", "RawEmail", "items", "mandrill_events", "msg", "ts", "_id", "payload",
    "object", "rcpt_to", "mail_from", "aftersale_message", "tags", "metadata", "url",
]  # fmt: skip
WORDS = [
    "Bounce", "SpamComplaint", "Delivery", "Open", "Click", "SubscriptionChange",
    "HardBounce", "Notification", "SubscriptionConfirmation", "Received", "delivered",
    "failed", "complained", "unsubscribed", "opened", "clicked", "bounce", "spamreport",
    "email.bounced", "message.delivered", "hard_bounce", "2024-03-04T09:00:00Z",
    "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00", "not a date",
    "mallory@example.net", "<mallory@example.net>", "1", "2", "", " ", "\x00", "\ud7ff",
]  # fmt: skip

pytestmark = pytest.mark.filterwarnings(
    "ignore::anymail.exceptions.AnymailNotSupportedWarning"  # anymail's note on SendGrid
)


@pytest.fixture
def message(store: Store) -> Message:
    """A message handed over to the ESP, which a malformed request must leave as it is."""
    now = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
    customer = make_customer(store, now=now, email="ada@example.org")
    message = make_scenario(store, now=now, customer=customer).message("thank-you", now=now)
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENT, sent_at=now, esp_message_id="1"
    )
    return message


@pytest.fixture(autouse=True)
def _esp_settings(settings: Settings, tmp_path: Path) -> None:
    settings.ANYMAIL = ANYMAIL
    settings.DATA_DIR = tmp_path  # where a reply for no store's domain would be kept


def state() -> tuple[Any, ...]:
    """What a webhook request could change."""
    return (
        list(Message.objects.values_list("pk", "status", "error", "delivered_at", "bounced_at")),
        list(Suppression.objects.values_list("pk")),
        list(Customer.objects.values_list("pk", "unsubscribed_at")),
        list(Event.objects.values_list("pk")),
    )


def post(esp: str, url: str, body: bytes, *, content_type: str, auth: str) -> HttpResponse:
    headers = {"Authorization": auth} if auth else {}
    if esp == "amazon_ses":  # SNS's headers, so that the body is read
        headers |= {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": "1"}
    client = Client(raise_request_exception=False)  # a crash is a 500, as the ESP sees it
    with with_esp(esp):
        response = client.post(url, body, content_type=content_type, headers=headers)
    assert isinstance(response, HttpResponse)
    return response


@pytest.mark.parametrize(("esp", "url"), ENDPOINTS, ids=[url for _, url in ENDPOINTS])
def test_a_malformed_webhook_request_is_a_400_on_every_esp_and_changes_nothing(
    esp: str, url: str, message: Message
) -> None:
    before = state()

    for name, body in (UNREADABLE | WRONG_SHAPE).items():
        for content_type in CONTENT_TYPES:
            response = post(esp, url, body, content_type=content_type, auth=GOOD_AUTH)

            assert response.status_code < 500, (name, content_type, response.content[:300])
            if name in UNREADABLE:
                assert response.status_code == 400, (name, content_type)
            if response["Content-Type"] == "application/json" and response.status_code == 400:
                assert esp.split("_")[0] in json.loads(response.content)["detail"].lower()
            assert b"Traceback" not in response.content
    assert state() == before


def test_a_malformed_amazon_ses_request_with_a_wrong_secret_is_refused_as_unauthenticated(
    message: Message,
) -> None:
    before = state()

    for body in UNREADABLE.values():
        for auth, status in [(AUTHS[1], 400), ("", 401)]:  # 401: SNS then sends the secret
            url = "/esp/amazon_ses/tracking/"
            response = post("amazon_ses", url, body, content_type="text/plain", auth=auth)
            assert response.status_code == status
    assert state() == before


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(WORDS)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=24,
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()[:-1]),  # cut short
    st.dictionaries(st.sampled_from(KEYS), json_values.map(json.dumps), max_size=5).map(
        lambda form: urlencode(form).encode()  # Mailgun's, Mandrill's and SendGrid's forms
    ),
    st.binary(max_size=120),
)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=bodies,
    content_type=st.sampled_from([*CONTENT_TYPES, "multipart/form-data; boundary=x"]),
    auth=st.sampled_from(AUTHS),
)
def test_generated_malformed_webhook_payloads_never_crash_or_change_anything(
    message: Message, endpoint: tuple[str, str], body: bytes, content_type: str, auth: str
) -> None:
    before = state()
    esp, url = endpoint

    response = post(esp, url, body, content_type=content_type, auth=auth)

    assert response.status_code < 500, (url, body, content_type, response.content[:300])
    assert state() == before

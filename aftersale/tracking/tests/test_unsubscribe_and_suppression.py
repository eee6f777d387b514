"""One-click unsubscribe (RFC 8058) and the suppression list: what they stop the sender
from sending, over real SMTP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client, override_settings
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings

from aftersale.flows.models import Flow
from aftersale.lib import installation
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.delivery.sending import send_queued_messages
from aftersale.messaging.models import Message, Suppression, SuppressionReason
from aftersale.messaging.outbox.selectors import suppression_reason
from aftersale.messaging.outbox.services import suppress
from aftersale.messaging.rendering.links import open_token, unsubscribe_token
from aftersale.messaging.tests.factories import Scenario, make_customer, make_scenario
from aftersale.messaging.tests.smtp_servers import RefusingHandler, serving, smtp_connection
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.services import record_complaint
from aftersale.tracking.tests.helpers import PUBLIC, send_all, send_one

ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def scenario(store: Store, clock: VirtualClock, settings: Settings) -> Scenario:
    settings.PUBLIC_URL = PUBLIC
    return make_scenario(store, now=clock.now())


def _other_flow_message(scenario: Scenario, *, clock: VirtualClock) -> Message:
    """A queued marketing message of another flow of the same store."""
    other = Flow.objects.create(
        store=scenario.store,
        slug="win-back",
        name="Win-back",
        status="live",
        created_at=clock.now(),
    )
    message = scenario.message("thank-you", now=clock.now())
    Message.objects.filter(pk=message.pk).update(flow=other)
    return message


def _statuses(*messages: Message) -> list[str]:
    for message in messages:
        message.refresh_from_db()
    return [m.status for m in messages]


def test_the_unsubscribe_page_asks_first_and_a_get_changes_nothing(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("cross-sell-offer", now=clock.now())
    page = Client().get(f"/u/{unsubscribe_token(message.pk)}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'method="post"' in body and "Unsubscribe" in body and message.to_email in body
    scenario.customer.refresh_from_db()
    assert scenario.customer.unsubscribed_at is None
    assert not Suppression.objects.exists() and not Event.objects.exists()


def test_one_click_post_from_the_header_needs_no_csrf_token_and_stops_later_marketing_only(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    first = scenario.message("cross-sell-offer", now=clock.now())
    received = send_one(first, clock=clock, outbox=tmp_path / "first")
    header = str(received["List-Unsubscribe"]).strip()
    one_click = header.split(">", 1)[0].removeprefix("<").removeprefix(PUBLIC)
    clock.advance(dt.timedelta(days=1))
    # A mail client posts it itself: no browser, no cookie, no CSRF token.
    client = Client(enforce_csrf_checks=True)
    with use_clock(clock):
        response = client.post(
            one_click, ONE_CLICK, content_type="application/x-www-form-urlencoded"
        )
        again = client.post(one_click, ONE_CLICK, content_type="application/x-www-form-urlencoded")
    assert response.status_code == again.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    scenario.customer.refresh_from_db()
    assert scenario.customer.unsubscribed_at == clock.now()
    assert Event.objects.filter(message=first, kind=EventKind.UNSUBSCRIBED).count() == 1
    assert suppression_reason(store=scenario.store, email=first.to_email) == "unsubscribed"

    clock.advance(dt.timedelta(days=2))
    reminder = scenario.message("offer-reminder", now=clock.now())
    elsewhere = _other_flow_message(scenario, clock=clock)
    receipt = scenario.message("order-confirmation", now=clock.now())
    arrived = send_all(clock=clock, outbox=tmp_path / "later")
    assert _statuses(reminder, elsewhere, receipt) == ["skipped", "skipped", "delivered"]
    assert [m["Subject"] for m in arrived] == [receipt.subject]


def test_the_confirmation_button_unsubscribes_a_browser_with_csrf_checks_on(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("thank-you", now=clock.now())
    url = f"/u/{unsubscribe_token(message.pk)}/"
    client = Client(enforce_csrf_checks=True)
    client.get(url)
    with use_clock(clock):
        response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    scenario.customer.refresh_from_db()
    assert scenario.customer.unsubscribed_at == clock.now()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("", "application/x-www-form-urlencoded"),
        ("List-Unsubscribe=Yes", "application/x-www-form-urlencoded"),
        ("anything", "text/plain"),
        ('{"List-Unsubscribe": "One-Click"}', "application/json"),
    ],
)
def test_a_post_without_the_one_click_body_of_rfc_8058_unsubscribes_nobody(
    scenario: Scenario, clock: VirtualClock, body: str, content_type: str
) -> None:
    message = scenario.message("thank-you", now=clock.now())

    response = Client().post(
        f"/u/{unsubscribe_token(message.pk)}/", body, content_type=content_type
    )

    assert response.status_code == 400
    assert "List-Unsubscribe=One-Click" in response.content.decode()
    scenario.customer.refresh_from_db()
    assert scenario.customer.unsubscribed_at is None and not Suppression.objects.exists()


def test_a_tampered_unsubscribe_token_is_refused_and_unsubscribes_nobody(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("thank-you", now=clock.now())
    token = unsubscribe_token(message.pk)
    forged = [token.replace(f"{message.pk}:", f"{message.pk + 1}:", 1), open_token(message.pk)]
    for bad in [*forged, "garbage"]:
        assert Client().get(f"/u/{bad}/").status_code == 404
        assert Client().post(f"/u/{bad}/", ONE_CLICK, content_type="text/plain").status_code == 404
    scenario.customer.refresh_from_db()
    assert scenario.customer.unsubscribed_at is None and not Suppression.objects.exists()


def test_a_hard_bounce_suppresses_the_address_for_every_flow_and_all_email(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    bounced = scenario.message("thank-you", now=clock.now())
    with serving(RefusingHandler("550 5.1.1 No such mailbox", times=1)) as port:
        send_queued_messages(now=clock.now(), connection=smtp_connection(port))
    assert _statuses(bounced) == ["bounced"]
    assert suppression_reason(store=scenario.store, email=bounced.to_email) == "hard_bounce"
    assert Event.objects.filter(message=bounced, kind=EventKind.BOUNCED).count() == 1

    clock.advance(dt.timedelta(days=3))
    same_flow = scenario.message("cross-sell-offer", now=clock.now())
    elsewhere = _other_flow_message(scenario, clock=clock)
    receipt = scenario.message("order-confirmation", now=clock.now())
    assert send_all(clock=clock, outbox=tmp_path) == []  # a dead address gets nothing
    assert _statuses(same_flow, elsewhere, receipt) == ["skipped"] * 3
    assert "hard_bounce" in same_flow.error


def test_a_complaint_stops_marketing_from_every_flow_but_not_order_confirmations(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    first = scenario.message("thank-you", now=clock.now())
    send_one(first, clock=clock, outbox=tmp_path / "first")
    record_complaint(message=first, now=clock.advance(dt.timedelta(hours=1)))
    assert Event.objects.filter(message=first, kind=EventKind.COMPLAINED).count() == 1
    marketing = _other_flow_message(scenario, clock=clock)
    receipt = scenario.message("order-confirmation", now=clock.now())
    send_all(clock=clock, outbox=tmp_path / "later")
    assert _statuses(marketing, receipt) == ["skipped", "delivered"]
    assert marketing.error == "address suppressed: complaint"


def test_suppression_follows_the_address_across_customer_rows_and_letter_case(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    suppress(
        store_id=scenario.store.pk,
        email="Twin@Example.org",
        reason=SuppressionReason.UNSUBSCRIBED,
        now=clock.now(),
    )
    twin = make_customer(scenario.store, now=clock.now(), email="twin@example.ORG")
    message = make_scenario(scenario.store, now=clock.now(), customer=twin).message(
        "thank-you", now=clock.now()
    )
    send_all(clock=clock, outbox=tmp_path)
    assert _statuses(message) == ["skipped"]


def test_suppression_is_per_store(scenario: Scenario, clock: VirtualClock) -> None:
    other = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=clock.now(),
    )
    suppress(
        store_id=other.pk,
        email=scenario.customer.email,
        reason=SuppressionReason.COMPLAINT,
        now=clock.now(),
    )
    assert suppression_reason(store=scenario.store, email=scenario.customer.email) is None


def test_a_hard_bounce_outranks_an_earlier_unsubscribe_and_nothing_downgrades_it(
    store: Store, clock: VirtualClock
) -> None:
    for reason in ("unsubscribed", "hard_bounce", "complaint", "unsubscribed"):
        suppress(
            store_id=store.pk,
            email="a@example.org",
            reason=SuppressionReason(reason),
            now=clock.now(),
        )
    (row,) = Suppression.objects.all()
    assert row.reason == "hard_bounce"


def test_checking_an_address_is_one_query(
    store: Store, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(1):
        assert suppression_reason(store=store, email="a@example.org") is None


# The key every installation signed with while AFTERSALE_SECRET_KEY was unset, before
# keys were generated (issue 13, item 1): public, so anything signed with it is forged.
_OLD_PUBLIC_KEY = "dev-only-insecure-key-change-me-in-production"


def test_forged_unsubscribe_token_is_refused_with_a_generated_key(
    scenario: Scenario,
    clock: VirtualClock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AFTERSALE_SECRET_KEY", raising=False)
    monkeypatch.setenv("AFTERSALE_HOME", str(tmp_path))
    monkeypatch.setenv("AFTERSALE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    installation.prepare()
    settings.SECRET_KEY = installation.secret_key(tmp_path, installation.database_url(tmp_path))
    message = scenario.message("cross-sell-offer", now=clock.now())
    with override_settings(SECRET_KEY=_OLD_PUBLIC_KEY):
        forged = unsubscribe_token(message.pk)

    response = Client().post(f"/u/{forged}/", {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 404
    scenario.customer.refresh_from_db()
    assert scenario.customer.unsubscribed_at is None
    assert not Suppression.objects.exists()
    genuine = Client().post(
        f"/u/{unsubscribe_token(message.pk)}/", {"List-Unsubscribe": "One-Click"}
    )
    assert genuine.status_code == 200

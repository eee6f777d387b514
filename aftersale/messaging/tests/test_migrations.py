"""Upgrading a database with emails in flight: messaging 0007 records what each queued
email is about and takes the suppression list over from tracking, rows and all."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from aftersale.messaging.models import Engagement, Message, Suppression
from aftersale.messaging.tests.factories import make_scenario
from aftersale.stores.services import create_store

BEFORE = [("messaging", "0006_alter_message_message_id"), ("tracking", "0003_alter_event_kind")]
NOW = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh graph, as the next `migrate` reads it


@pytest.mark.django_db(transaction=True)
def test_upgrading_keeps_queued_emails_about_their_journey_and_every_suppression() -> None:
    store = create_store(name="Shop", slug="shop", now=NOW)
    scenario = make_scenario(store, now=NOW)  # tables these migrations leave alone
    executor = _migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    old.get_model("messaging", "Message").objects.create(
        store_id=store.pk,
        customer_id=scenario.customer.pk,
        template_id=scenario.templates["thank-you"].pk,
        flow_id=scenario.enrollment.flow_id,
        enrollment_id=scenario.enrollment.pk,
        step_index=1,
        idempotency_key="in-flight",
        to_email=scenario.customer.email,
        queued_at=NOW,
        send_after=NOW,
    )
    old.get_model("tracking", "Suppression").objects.create(
        store_id=store.pk, email="gone@example.org", reason="hard_bounce", created_at=NOW
    )

    _migrate(executor.loader.graph.leaf_nodes())

    message = Message.objects.get(idempotency_key="in-flight")
    assert (message.order_id, message.checkout_id, message.campaign) == (
        scenario.enrollment.trigger_order_id,
        scenario.enrollment.trigger_checkout_id,
        scenario.enrollment.flow.slug,
    )
    assert list(Suppression.objects.values_list("email", "reason")) == [
        ("gone@example.org", "hard_bounce")
    ]
    assert Suppression._meta.db_table == "messaging_suppression"


SKIP_REASONS_BEFORE = [("messaging", "0010_message_flow_report_index")]


@pytest.mark.django_db(transaction=True)
def test_upgrading_gives_emails_skipped_before_reasons_were_kept_their_reason() -> None:
    store = create_store(name="Shop", slug="shop", now=NOW)
    scenario = make_scenario(store, now=NOW)
    executor = _migrate(SKIP_REASONS_BEFORE)
    old = executor.loader.project_state(SKIP_REASONS_BEFORE).apps.get_model("messaging", "Message")
    details = {
        "smart": "smart sending: got an email at 2024-03-04T09:00:00+00:00",
        "gone": "address suppressed: hard_bounce",
        "left": "customer unsubscribed at 2024-03-01T10:00:00+00:00",
        "never": "customer does not accept marketing",
        "odd": "something else",
    }
    for key, detail in details.items():
        old.objects.create(
            store_id=store.pk,
            customer_id=scenario.customer.pk,
            template_id=scenario.templates["thank-you"].pk,
            idempotency_key=key,
            to_email=scenario.customer.email,
            queued_at=NOW,
            send_after=NOW,
            status="skipped",
            error=detail,
        )

    _migrate(executor.loader.graph.leaf_nodes())

    reasons = dict(
        Message.objects.filter(status="skipped").values_list("idempotency_key", "skip_reason")
    )
    assert reasons == {
        "smart": "smart_sending",
        "gone": "suppressed",
        "left": "no_consent",
        "never": "no_consent",
        "odd": "",
    }
    assert Message.objects.get(idempotency_key="smart").error == details["smart"]


@pytest.mark.django_db(transaction=True)
def test_upgrading_marks_on_each_message_what_its_recorded_events_say_was_done() -> None:
    store = create_store(name="Shop", slug="shop", now=NOW)
    scenario = make_scenario(store, now=NOW)
    before = [
        ("messaging", "0010_message_flow_report_index"),
        ("tracking", "0004_suppression_to_messaging"),
    ]
    executor = _migrate(before)
    old = executor.loader.project_state(before).apps
    messages = {
        name: old.get_model("messaging", "Message").objects.create(
            store_id=store.pk,
            customer_id=scenario.customer.pk,
            template_id=scenario.templates["thank-you"].pk,
            idempotency_key=name,
            to_email=scenario.customer.email,
            queued_at=NOW,
            send_after=NOW,
        )
        for name in ("read-and-clicked", "machine-opened", "replied", "untouched")
    }
    for name, key in (
        ("read-and-clicked", "open"),
        ("read-and-clicked", "click:0"),
        ("read-and-clicked", "click:1"),
        ("machine-opened", "open:machine"),
        ("replied", "reply"),
    ):
        old.get_model("tracking", "Event").objects.create(
            store_id=store.pk,
            customer_id=scenario.customer.pk,
            message_id=messages[name].pk,
            kind="opened",
            occurred_at=NOW,
            once_key=key,
        )

    _migrate(executor.loader.graph.leaf_nodes())

    assert dict(
        Message.objects.filter(idempotency_key__in=messages).values_list(
            "idempotency_key", "engagement"
        )
    ) == {
        "read-and-clicked": Engagement.READ | Engagement.CLICKED,
        "machine-opened": 0,
        "replied": Engagement.REPLIED,
        "untouched": 0,
    }

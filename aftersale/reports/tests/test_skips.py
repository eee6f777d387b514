"""The report counts skips as results: per message the emails skipped and why, the
emails quiet hours moved, and per flow the journeys that started with every email
already overdue."""

import datetime as dt
import io

from django.core.mail import get_connection
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from aftersale.customers.models import Customer
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates, place_order
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.delivery.sending import send_queued_messages
from aftersale.messaging.models import Message
from aftersale.reports.selectors import flow_report

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _two_emails_at_once(store):
    """Four customers of a flow that sends "one" then "two" at once: smart sending skips
    every "two"; cat unsubscribed before "one" went out; dan's order came two days late."""
    add_templates(store, T0, "one", "two")
    flow = install_flow(
        store=store,
        slug="pair",
        definition={
            "name": "Pair",
            "exit_when": [],
            "guards": {"smart_sending_hours": 16, "quiet_hours": None},
            "steps": [{"type": "email", "template": "one"}, {"type": "email", "template": "two"}],
        },
        now=T0,
    )
    on_time = [place_order(store, order_id=c, customer=c, at=T0).pk for c in ("ann", "bob", "cat")]
    process_orders(store=store, order_ids=on_time, now=T0)
    run_due_enrollments(now=T0)
    Customer.objects.filter(external_id="cat").update(unsubscribed_at=T0)
    late = place_order(store, order_id="dan", customer="dan", at=T0)
    process_orders(store=store, order_ids=[late.pk], now=T0 + 2 * DAY)
    run_due_enrollments(now=T0 + 2 * DAY)
    send_queued_messages(
        now=T0 + 2 * DAY, connection=get_connection("django.core.mail.backends.locmem.EmailBackend")
    )
    return flow


def test_skipped_emails_are_counted_per_message_with_each_reason(store):
    flow = _two_emails_at_once(store)

    report = flow_report(flow=flow, now=T0 + 3 * DAY)

    one, two = (step.message for step in report.steps if step.message is not None)
    assert (one.sent, one.skipped, one.skipped_by_reason) == (3, 1, {"no_consent": 1})
    assert (two.sent, two.skipped, two.skipped_by_reason) == (0, 4, {"smart_sending": 4})
    assert one.moved_by_quiet_hours == two.moved_by_quiet_hours == 0
    assert report.overdue_at_entry == 1  # dan's
    data = report.as_dict()
    steps: list[dict] = data["steps"]  # type: ignore[assignment]
    assert data["overdue_at_entry"] == 1
    assert steps[1]["message"]["skipped_by_reason"] == {"smart_sending": 4}


def test_the_text_report_shows_skips_their_reasons_and_the_overdue_journeys(store):
    flow = _two_emails_at_once(store)
    printed = io.StringIO()

    with use_clock(VirtualClock(T0 + 3 * DAY)):
        call_command("report", flow.slug, stdout=printed)

    text = printed.getvalue()
    assert "Skipped" in text
    assert "Step 0 one: skipped 1 (no_consent: 1)" in text
    assert "Step 1 two: skipped 4 (smart_sending: 4)" in text
    assert "1 journey started with every step already overdue" in text


def test_the_message_counts_stay_one_scan_of_the_covering_index(store):
    flow = _two_emails_at_once(store)
    if connection.vendor != "sqlite":
        return  # PostgreSQL's plans depend on its statistics; SQLite's are exact
    counts = (
        Message.objects.filter(flow=flow, step_index__isnull=False)
        .values_list("step_index", "status", "skip_reason")
        .order_by()
    )
    sql, params = counts.annotate(n=Count("*")).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "COVERING INDEX message_flow_report" in plan, plan

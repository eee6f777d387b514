"""Which email earns an order: a hand-checked store of a dozen customers whose reads,
machine opens, clicks, codes, refunds and currencies are known, run live through the
doors orders and engagement really come in by."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from aftersale.attribution.models import AttributedVia, Attribution
from aftersale.customers.records import CustomerRecord
from aftersale.flows.models import Flow
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, upsell_definition
from aftersale.integrations.services import receive_orders
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.models import Order
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.reports.selectors import flow_report
from aftersale.stores.models import Store
from aftersale.tracking.services import record_click, record_reported_open

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
THANK_YOU, OFFER = 1, 3  # the upsell's email steps


def _order(store: Store, order_id: str, customer: str, at: dt.datetime, **fields: object) -> Order:
    """One order received as a store sends it (API, CSV, webhooks all come this way)."""
    total = Decimal(str(fields.pop("total", "20.00")))
    record = OrderRecord(
        external_id=order_id,
        customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
        placed_at=at,
        line_items=(LineItemRecord("milk", 1, total, product_name="Milk"),),
        **fields,  # type: ignore[arg-type]
    )
    result = receive_orders(store=store, records=[record], now=at)
    return Order.objects.get(pk=(result.created or result.updated)[0])


def _email(customer: str, step: int) -> Message:
    return Message.objects.get(customer__external_id=customer, step_index=step)


def _send_due(now: dt.datetime) -> None:
    """Run the flows at `now` and stand in for SMTP delivery (messaging's tests cover it)."""
    run_due_enrollments(now=now)
    Message.objects.filter(status=MessageStatus.QUEUED).update(
        status=MessageStatus.DELIVERED, sent_at=now, delivered_at=now
    )


@pytest.fixture
def upsell(store: Store) -> Flow:
    add_templates(store, T0, "thank-you", "offer", "reminder")
    definition = upsell_definition(exit_when=())
    return install_flow(store=store, slug="upsell", definition=definition, now=T0)


@pytest.fixture
def scene(store: Store, upsell: Flow) -> dict[str, Order]:
    """Eleven first-time buyers at T0, their thank-you an hour later and their offer
    (with a code) at T0 + 3 days 1 hour, and what each did next."""
    for name in ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ivy", "joe", "kim"):
        _order(store, f"{name}-1", name, T0)
    _send_due(T0 + HOUR)
    sent = T0 + HOUR
    for name in ("ann", "dan", "fay", "gus", "hal", "kim"):
        record_click(message=_email(name, THANK_YOU), index=0, url="https://s/", now=sent + HOUR)
    record_reported_open(message=_email("bob", THANK_YOU), machine_reason="proxy", now=sent)
    record_reported_open(message=_email("cat", THANK_YOU), machine_reason="", now=sent + 2 * HOUR)
    record_reported_open(message=_email("joe", THANK_YOU), machine_reason="", now=sent + HOUR)
    orders = {
        "ann": _order(store, "ann-2", "ann", T0 + 2 * DAY, total="50.00"),
        "bob": _order(store, "bob-2", "bob", T0 + DAY),
        "cat": _order(store, "cat-2", "cat", T0 + 4 * DAY, total="30.00"),
        "fay": _order(store, "fay-2", "fay", T0 + DAY, total="25.00", currency="EUR"),
        "gus": _order(store, "gus-2", "gus", T0 + DAY, total="60.00"),
        "hal": _order(store, "hal-2", "hal", T0 + DAY, total="70.00"),
        "ivy": _order(store, "ivy-2", "ivy", T0 + DAY, total="15.00"),
    }
    _send_due(T0 + 3 * DAY + HOUR)  # the offers, each with its own code
    record_click(message=_email("joe", OFFER), index=0, url="https://s/", now=T0 + 4 * DAY)
    code = _email("eve", OFFER).coupon.code  # type: ignore[union-attr]
    orders |= {
        # dan's click is 5 days 22 hours old: outside the click window.
        "dan": _order(store, "dan-2", "dan", T0 + 6 * DAY, total="40.00"),
        # eve uses her code 17 days on, long after any window.
        "eve": _order(store, "eve-2", "eve", T0 + 20 * DAY, total="45.00", discount_codes=(code,)),
        # joe read the thank-you, then clicked the offer: the click wins.
        "joe": _order(store, "joe-2", "joe", T0 + 4 * DAY + HOUR, total="35.00"),
    }
    _order(store, "gus-2", "gus", T0 + DAY, total="60.00", refunded_total=Decimal("20.00"))
    _order(store, "hal-2", "hal", T0 + DAY, total="70.00", refunded_at=T0 + 3 * DAY)
    # ivy's click arrives late (an email service's webhook), after her order was stored.
    record_click(message=_email("ivy", THANK_YOU), index=0, url="https://s/", now=T0 + 2 * HOUR)
    return orders


def _credited() -> dict[str, tuple[str, int | None]]:
    return {
        a.order.external_id: (a.via, a.step_index)
        for a in Attribution.objects.select_related("order")
    }


def test_each_order_is_credited_to_the_email_that_earned_it_or_to_none(
    scene: dict[str, Order],
) -> None:
    assert _credited() == {
        "ann-2": (AttributedVia.CLICK, THANK_YOU),
        "cat-2": (AttributedVia.OPEN, THANK_YOU),
        "eve-2": (AttributedVia.COUPON, OFFER),
        "fay-2": (AttributedVia.CLICK, THANK_YOU),
        "gus-2": (AttributedVia.CLICK, THANK_YOU),
        "hal-2": (AttributedVia.CLICK, THANK_YOU),
        "ivy-2": (AttributedVia.CLICK, THANK_YOU),
        "joe-2": (AttributedVia.CLICK, OFFER),
    }  # bob's open was a machine's, dan's click too old, kim never bought again


def test_first_orders_placed_before_any_email_are_credited_to_none(
    scene: dict[str, Order],
) -> None:
    assert not Attribution.objects.filter(order__external_id__endswith="-1").exists()


def test_the_report_counts_attributed_revenue_net_of_refunds_per_currency_and_message(
    scene: dict[str, Order], upsell: Flow
) -> None:
    report = flow_report(flow=upsell, now=T0 + 30 * DAY)

    # ann 50 + cat 30 + gus 60-20 + ivy 15 (thank-you) + eve 45 + joe 35 (offer); hal's
    # refunded order earns nothing, fay's is in euros.
    assert report.attributed_orders == 7
    assert report.attributed_revenue == Decimal("215.00")
    assert report.attributed_revenue_by_currency == {
        "EUR": Decimal("25.00"),
        "USD": Decimal("215.00"),
    }
    thank_you, offer = report.steps[THANK_YOU].message, report.steps[OFFER].message
    assert thank_you is not None and offer is not None
    assert (thank_you.purchased, thank_you.revenue) == (5, Decimal("135.00"))
    assert thank_you.revenue_by_currency == {"EUR": Decimal("25.00"), "USD": Decimal("135.00")}
    assert (offer.purchased, offer.revenue) == (2, Decimal("80.00"))
    assert report.as_dict()["attributed_revenue"] == 215.0


def test_a_store_with_shorter_windows_credits_fewer_orders(store: Store, upsell: Flow) -> None:
    store.attribution_click_days, store.attribution_open_days = 1, 0
    store.save()
    _order(store, "ann-1", "ann", T0)
    _order(store, "cat-1", "cat", T0)
    _send_due(T0 + HOUR)
    record_click(message=_email("ann", THANK_YOU), index=0, url="https://s/", now=T0 + 2 * HOUR)
    record_reported_open(message=_email("cat", THANK_YOU), machine_reason="", now=T0 + 2 * HOUR)
    _order(store, "ann-2", "ann", T0 + 2 * DAY)  # two days after the click
    _order(store, "cat-2", "cat", T0 + 3 * HOUR)  # reads earn nothing with a 0-day window

    assert _credited() == {}


def test_the_attribute_command_credits_orders_stored_before_attribution_existed(
    scene: dict[str, Order],
) -> None:
    import io

    from django.core.management import call_command

    before = _credited()
    Attribution.objects.all().delete()  # as on a database upgraded from before it
    printed = io.StringIO()

    call_command("attribute", stdout=printed, stderr=io.StringIO())

    assert _credited() == before
    assert "8 of 21 orders credited to an email" in printed.getvalue()

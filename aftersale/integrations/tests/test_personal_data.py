"""Specification of a customer's personal data across the apps: export and erasure."""

import datetime as dt
from decimal import Decimal

import pytest
from django.apps import apps

from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.flows.backtest import run_backtest
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import add_templates, place_order, upsell_definition
from aftersale.integrations.personal_data import customer_data, erase_customer_data
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message, MessageStatus
from aftersale.orders.checkouts import ingest_checkouts
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.reports.selectors import flow_report
from aftersale.tracking.models import EventKind
from aftersale.tracking.services import (
    record_click,
    record_customer_event,
    record_open,
    record_reply,
    record_reported_open,
    unsubscribe_recipient,
)

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
ANN = CustomerRecord(
    external_id="ann-42",
    email="annabel.quixotic@example.com",
    first_name="Annabel",
    last_name="Quixotic",
    time_zone="Europe/Lisbon",
    birthday=dt.date(1990, 5, 17),
)
# What identifies Ann, wherever it is stored.
ANN_TRACES = ["annabel", "quixotic", "12 quill lane", "ann-42", "visa ending 4242", "recover/ann"]


def _order(external_id: str, at: dt.datetime, customer: CustomerRecord = ANN) -> OrderRecord:
    return OrderRecord(
        external_id=external_id,
        customer=customer,
        placed_at=at,
        line_items=(LineItemRecord("mug", 1, Decimal("20.00"), product_name="Mug"),),
        shipping_address="Annabel Quixotic\n12 Quill Lane\nLisbon",
        payment_method="Visa ending 4242",
    )


def _deliver(now: dt.datetime) -> int:
    return Message.objects.filter(status=MessageStatus.QUEUED).update(
        status=MessageStatus.DELIVERED, sent_at=now, delivered_at=now
    )


@pytest.fixture
def flow(store):
    """Ann and Bob went through the upsell flow; Ann read, clicked, bought again and
    unsubscribed, viewed a product and left a checkout."""
    add_templates(store, T0, "thank-you", "offer", "reminder")
    flow = install_flow(store=store, slug="upsell", definition=upsell_definition(), now=T0)
    ingest_orders(store=store, records=[_order("a1", T0)], now=T0)
    place_order(store, order_id="b1", customer="bob", at=T0)
    ingest_orders(store=store, records=[_order("a2", T0 + 5 * DAY)], now=T0 + 5 * DAY)
    clock = VirtualClock(T0 - DAY)
    run_backtest(flow=flow, start=T0 - DAY, end=T0 + 20 * DAY, clock=clock, deliver=_deliver)
    ann = Customer.objects.get(store=store, external_id="ann-42")
    message = Message.objects.filter(customer=ann).first()
    assert message is not None
    record_open(message=message, user_agent="Mozilla/5.0 Annabel's phone", now=T0 + DAY)
    record_click(message=message, index=0, url="https://shop.example/?who=annabel", now=T0 + DAY)
    record_reply(message=message, sender="annabel.quixotic@example.com", now=T0 + DAY)
    unsubscribe_recipient(message=message, now=T0 + 2 * DAY)
    offer = Message.objects.filter(customer=ann).exclude(pk=message.pk).first()
    assert offer is not None
    record_reported_open(message=offer, machine_reason="privacy proxy", now=T0 + 4 * DAY)
    record_customer_event(
        store=store,
        customer_id=ann.pk,
        kind=EventKind.PRODUCT_VIEWED,
        occurred_at=T0 + DAY,
        data={"product_id": "mug", "visitor": "annabel"},
    )
    checkout = CheckoutRecord(
        external_id="k1",
        customer=ANN,
        started_at=T0 + 3 * DAY,
        line_items=(LineItemRecord("mug", 1, Decimal("20.00")),),
        recovery_url="https://shop.example/recover/ann",
    )
    ingest_checkouts(store=store, records=[checkout], now=T0 + 3 * DAY)
    return flow


def _stored_traces() -> list[tuple[str, str]]:
    """Every trace of Ann in any table of the database."""
    found = []
    for model in apps.get_models():
        for row in model._default_manager.values_list():
            text = str(row).lower()
            found += [(model.__name__, trace) for trace in ANN_TRACES if trace in text]
    return found


def test_everything_stored_about_a_customer_is_exported(store, flow):
    ann = Customer.objects.get(store=store, external_id="ann-42")

    data = customer_data(store=store, customer=ann)

    assert data.customer.email == "annabel.quixotic@example.com"
    assert [o.external_id for o in data.orders] == ["a1", "a2"]
    assert [c.external_id for c in data.checkouts] == ["k1"]
    assert {m.to_email for m in data.messages} == {"annabel.quixotic@example.com"}
    kinds = {e.kind for e in data.events}
    assert kinds == {"opened", "clicked", "replied", "unsubscribed", "product_viewed"}


def test_erasing_a_customer_keeps_every_report_number_and_leaves_no_trace_of_them(store, flow):
    ann = Customer.objects.get(store=store, external_id="ann-42")
    before = flow_report(flow=flow, now=T0 + 30 * DAY).as_dict()
    assert {trace for _, trace in _stored_traces()} == set(ANN_TRACES)
    thanks, offer = (before["steps"][i]["message"] for i in (1, 3))  # type: ignore[index]
    assert (thanks["read"], thanks["clicked"], thanks["replied"], offer["read"]) == (1, 1, 1, 0)

    erase_customer_data(store=store, customer=ann, now=T0 + 30 * DAY)

    assert flow_report(flow=flow, now=T0 + 30 * DAY).as_dict() == before
    assert _stored_traces() == []
    ann.refresh_from_db()
    assert (ann.email, ann.first_name, ann.birthday, ann.time_zone) == ("", "", None, "")
    assert {e.kind for e in customer_data(store=store, customer=ann).events} == {
        "opened",
        "clicked",
        "replied",
        "unsubscribed",
    }


def test_a_later_order_with_an_erased_customers_address_and_id_makes_a_new_customer(store, flow):
    ann = Customer.objects.get(store=store, external_id="ann-42")
    erase_customer_data(store=store, customer=ann, now=T0 + 30 * DAY)

    ingest_orders(store=store, records=[_order("a3", T0 + 31 * DAY)], now=T0 + 31 * DAY)

    again = Customer.objects.get(store=store, external_id="ann-42")
    assert again.pk != ann.pk
    assert again.email == "annabel.quixotic@example.com"
    assert list(again.orders.values_list("external_id", flat=True)) == ["a3"]

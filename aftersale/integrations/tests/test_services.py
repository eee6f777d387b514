"""Specification of the single door data enters through."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from aftersale.catalog.models import Product
from aftersale.catalog.records import ProductRecord
from aftersale.customers.records import CustomerRecord
from aftersale.flows import services as flows
from aftersale.integrations.services import receive_checkouts, receive_orders, receive_products
from aftersale.orders.models import Checkout, Order
from aftersale.orders.records import CheckoutRecord, LineItemRecord, OrderRecord

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def _order(external_id: str, fulfilled_at: dt.datetime | None = None) -> OrderRecord:
    return OrderRecord(
        external_id=external_id,
        customer=CustomerRecord(external_id="c1", email="ada@example.com"),
        placed_at=T0,
        line_items=(LineItemRecord("p1", 1, Decimal("5.00")),),
        fulfilled_at=fulfilled_at,
    )


@pytest.fixture
def processed(monkeypatch) -> list[list[int]]:
    """The order ids each process_orders call was given (the real function still runs)."""
    calls: list[list[int]] = []
    real = flows.process_orders

    def spy(*, store, order_ids, now, enroll_from=None):
        calls.append(sorted(order_ids))
        return real(store=store, order_ids=order_ids, now=now, enroll_from=enroll_from)

    monkeypatch.setattr(flows, "process_orders", spy)
    return calls


def test_flows_see_every_order_that_was_created_or_changed(store, processed):
    created = receive_orders(store=store, records=[_order("1"), _order("2")], now=T0)
    changed = receive_orders(
        store=store, records=[_order("1", fulfilled_at=T0), _order("2")], now=T0
    )

    assert processed == [sorted(created.created), changed.updated]
    assert changed.unchanged == 1


def test_flows_are_not_bothered_when_nothing_changed(store, processed):
    receive_orders(store=store, records=[_order("1")], now=T0)

    receive_orders(store=store, records=[_order("1")], now=T0)

    assert len(processed) == 1


def test_an_order_is_not_kept_when_its_flows_fail(store, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("flows down")

    monkeypatch.setattr(flows, "process_orders", broken)

    with pytest.raises(RuntimeError):
        receive_orders(store=store, records=[_order("1")], now=T0)

    assert not Order.objects.filter(store=store).exists()


def test_received_products_are_created_then_updated_keeping_what_is_left_blank(store):
    first = receive_products(
        store=store,
        records=[
            ProductRecord("p1", "Mug", category="Kitchen", price=Decimal("9.00"), stock=3),
        ],
    )
    receive_products(store=store, records=[ProductRecord("p1", "Big mug", stock=0)])

    product = Product.objects.get(pk=first["p1"])
    assert (product.name, product.category, product.price, product.stock) == (
        "Big mug",
        "Kitchen",
        Decimal("9.00"),
        0,
    )


def test_an_order_completes_the_open_checkouts_its_customer_started_before_it(store):
    started = CheckoutRecord(
        external_id="k1",
        customer=CustomerRecord(external_id="c1", email="ada@example.com"),
        started_at=T0 - dt.timedelta(hours=2),
        line_items=(LineItemRecord("p1", 1, Decimal("5.00")),),
    )
    later = dataclasses.replace(started, external_id="k2", started_at=T0 + dt.timedelta(hours=1))
    receive_checkouts(store=store, records=[started, later], now=T0)

    receive_orders(store=store, records=[_order("1")], now=T0)

    completed = dict(Checkout.objects.values_list("external_id", "order__external_id"))
    assert completed == {"k1": "1", "k2": None}

"""Specification of order ingest: idempotent, and tolerant of events out of order."""

import dataclasses
import datetime as dt
from decimal import Decimal

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.orders.models import LineItem, Order, OrderStatus
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
ADA = CustomerRecord(external_id="c1", email="ada@example.com", first_name="Ada")


def _order(external_id: str = "1001", **changes: object) -> OrderRecord:
    order = OrderRecord(
        external_id=external_id,
        customer=ADA,
        placed_at=T0,
        line_items=(
            LineItemRecord("p1", 2, Decimal("9.99"), product_name="Mug", category="Kitchen"),
            LineItemRecord("p2", 1, Decimal("20.00"), product_name="Tea"),
        ),
    )
    return dataclasses.replace(order, **changes)  # type: ignore[arg-type]


def test_a_new_order_is_stored_with_its_customer_products_and_line_items(store):
    result = ingest_orders(store=store, records=[_order()], now=T0)

    order = Order.objects.get(pk=result.created[0])
    assert (order.external_id, order.total, order.status) == (
        "1001",
        Decimal("39.98"),
        OrderStatus.PLACED,
    )
    assert order.customer.email == "ada@example.com"
    assert sorted(order.line_items.values_list("product__external_id", "quantity", "total")) == [
        ("p1", 2, Decimal("19.98")),
        ("p2", 1, Decimal("20.00")),
    ]
    assert Product.objects.get(store=store, external_id="p1").name == "Mug"


def test_the_same_order_posted_twice_is_one_order(store):
    first = ingest_orders(store=store, records=[_order()], now=T0)
    second = ingest_orders(store=store, records=[_order()], now=T0)

    assert len(first.created) == 1
    assert (second.created, second.updated, second.unchanged) == ([], [], 1)
    assert Order.objects.filter(store=store).count() == 1
    assert LineItem.objects.filter(store=store).count() == 2
    assert Customer.objects.filter(store=store).count() == 1


def test_an_order_repeated_in_one_batch_is_stored_once(store):
    result = ingest_orders(store=store, records=[_order(), _order()], now=T0)

    assert len(result.created) == 1
    assert LineItem.objects.filter(store=store).count() == 2


def test_a_later_event_adds_its_timestamp_without_doubling_line_items(store):
    ingest_orders(store=store, records=[_order()], now=T0)
    shipped = T0 + dt.timedelta(days=1)

    result = ingest_orders(store=store, records=[_order(fulfilled_at=shipped)], now=T0)

    order = Order.objects.get(store=store, external_id="1001")
    assert result.updated == [order.pk]
    assert (order.status, order.fulfilled_at) == (OrderStatus.FULFILLED, shipped)
    assert order.line_items.count() == 2


def test_a_delivery_arriving_before_the_fulfilment_leaves_the_order_delivered(store):
    delivered, fulfilled = T0 + dt.timedelta(days=3), T0 + dt.timedelta(days=1)
    ingest_orders(store=store, records=[_order(delivered_at=delivered)], now=T0)

    ingest_orders(store=store, records=[_order(fulfilled_at=fulfilled)], now=T0)

    order = Order.objects.get(store=store, external_id="1001")
    assert order.status == OrderStatus.DELIVERED
    assert (order.fulfilled_at, order.delivered_at) == (fulfilled, delivered)


def test_a_refund_wins_over_a_delivery_that_is_reported_after_it(store):
    ingest_orders(store=store, records=[_order(refunded_at=T0 + dt.timedelta(days=9))], now=T0)

    ingest_orders(store=store, records=[_order(delivered_at=T0 + dt.timedelta(days=2))], now=T0)

    assert Order.objects.get(store=store).status == OrderStatus.REFUNDED


def test_a_stored_timestamp_is_never_overwritten(store):
    ingest_orders(store=store, records=[_order(delivered_at=T0 + dt.timedelta(days=2))], now=T0)

    result = ingest_orders(
        store=store, records=[_order(delivered_at=T0 + dt.timedelta(days=5))], now=T0
    )

    assert result.unchanged == 1
    assert Order.objects.get(store=store).delivered_at == T0 + dt.timedelta(days=2)


def test_a_paid_order_becomes_paid_and_then_fulfilled(store):
    ingest_orders(store=store, records=[_order(paid_at=T0)], now=T0)
    assert Order.objects.get(store=store).status == OrderStatus.PAID

    ingest_orders(store=store, records=[_order(fulfilled_at=T0 + dt.timedelta(hours=5))], now=T0)

    assert Order.objects.get(store=store).status == OrderStatus.FULFILLED


def test_unit_prices_are_kept_to_the_cent_and_totals_follow_them(store):
    item = LineItemRecord("p9", 3, Decimal("1.005"))

    ingest_orders(store=store, records=[_order(line_items=(item,))], now=T0)

    line = LineItem.objects.get(store=store)
    assert (line.unit_price, line.total) == (Decimal("1.00"), Decimal("3.00"))


def test_a_line_item_never_overwrites_the_catalog(store):
    ingest_orders(store=store, records=[_order()], now=T0)
    renamed = (LineItemRecord("p1", 1, Decimal("1.00"), product_name="Renamed"),)

    ingest_orders(store=store, records=[_order("1002", line_items=renamed)], now=T0)

    assert Product.objects.get(store=store, external_id="p1").name == "Mug"


def test_orders_of_another_store_are_separate(store):
    from aftersale.stores.services import create_store

    other = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="Other", slug="other", now=T0
    )
    ingest_orders(store=store, records=[_order()], now=T0)

    result = ingest_orders(store=other, records=[_order()], now=T0)

    assert len(result.created) == 1
    assert Order.objects.filter(external_id="1001").count() == 2
    assert LineItem.objects.filter(store=other).count() == 2


def test_a_blank_customer_field_in_one_order_does_not_erase_another_orders_in_the_same_batch(
    store,
):
    with_zone = dataclasses.replace(ADA, time_zone="Europe/Paris")
    without = dataclasses.replace(ADA, first_name="")

    ingest_orders(
        store=store,
        records=[_order("1", customer=with_zone), _order("2", customer=without)],
        now=T0,
    )

    customer = Customer.objects.get(store=store)
    assert (customer.first_name, customer.time_zone) == ("Ada", "Europe/Paris")

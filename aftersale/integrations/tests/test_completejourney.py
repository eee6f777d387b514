"""Specification of the Complete Journey loader, on a slice of three households."""

import datetime as dt
from decimal import Decimal

import pytest

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.integrations.completejourney import FIRST_NAMES, load_complete_journey
from aftersale.orders.models import LineItem, Order, OrderStatus

T0 = dt.datetime(2018, 1, 2, tzinfo=dt.UTC)


@pytest.fixture
def loaded(store):
    advanced: list[int] = []
    totals: list[int] = []
    summary = load_complete_journey(
        store=store,
        now=T0,
        limit_households=3,
        chunk_size=50,
        progress=advanced.append,
        on_total=totals.append,
    )
    return summary, advanced, totals


def test_households_become_customers_with_generated_names_in_chicago_time(store, loaded):
    customers = list(Customer.objects.filter(store=store).order_by("external_id"))

    assert [c.external_id for c in customers] == ["1", "2", "3"]
    first = customers[0]
    assert (first.email, first.first_name, first.time_zone) == (
        "household-1@example.com",
        FIRST_NAMES[1],
        "America/Chicago",
    )


def test_baskets_become_delivered_orders_with_one_line_per_product(store, loaded):
    summary, advanced, totals = loaded

    assert summary.orders == Order.objects.filter(store=store).count() > 0
    assert summary.line_items == LineItem.objects.filter(store=store).count()
    assert totals == [summary.orders]
    assert sum(advanced) == summary.orders and len(advanced) > 1
    order = Order.objects.filter(store=store).order_by("placed_at").first()
    assert order is not None
    assert order.status == OrderStatus.DELIVERED
    assert order.fulfilled_at == order.delivered_at == order.placed_at
    lines = order.line_items.all()
    assert len({line.product_id for line in lines}) == len(lines)
    assert all(line.total == line.unit_price * line.quantity for line in lines)


def test_local_chicago_times_are_stored_in_utc_across_daylight_saving(store, loaded):
    winter = Order.objects.get(store=store, external_id="31316980957")  # 16:58:34 CST
    summer = Order.objects.get(store=store, external_id="33920041827")  # 17:54:16 CDT

    assert winter.placed_at == dt.datetime(2017, 1, 7, 22, 58, 34, tzinfo=dt.UTC)
    assert summer.placed_at == dt.datetime(2017, 7, 1, 22, 54, 16, tzinfo=dt.UTC)


def test_sold_products_are_named_priced_and_linked(store, loaded):
    products = Product.objects.filter(store=store)
    product = products.exclude(category="").first()
    assert product is not None

    assert products.count() == loaded[0].products
    assert product.name and not product.name.isupper()
    assert product.department and product.brand in {"National", "Private"}
    assert product.price >= Decimal("0") and product.stock is None
    assert product.image_url == f"https://images.example.com/products/{product.external_id}.png"
    assert product.url == f"https://shop.example.com/products/{product.external_id}"


def test_loading_twice_changes_nothing(store, loaded):
    again = load_complete_journey(store=store, now=T0, limit_households=3)

    assert again.created == 0
    assert Order.objects.filter(store=store).count() == loaded[0].orders

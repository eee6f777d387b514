"""A journey's pre-entry covariates: what its customer bought in the 90 days before
entering, and the trigger order's value, fixed at entry and filled in on upgrade."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from aftersale.customers.records import CustomerRecord
from aftersale.flows.covariates import Covariates, PastOrder, covariates_of
from aftersale.flows.models import Enrollment
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_covariates_count_the_90_days_before_entry_and_the_trigger_apart():
    orders = [
        PastOrder(1, T0 - 91 * DAY, Decimal("500.00")),  # too long before
        PastOrder(2, T0 - 30 * DAY, Decimal("20.00")),
        PastOrder(3, T0 - DAY, Decimal("5.50")),
        PastOrder(4, T0, Decimal("42.00")),  # the trigger
        PastOrder(5, T0 + DAY, Decimal("99.00")),  # after entry: the outcome, not a covariate
    ]
    assert covariates_of(at=T0, trigger_order_id=4, orders=orders) == Covariates(
        spend_90d=25.5, orders_90d=2, trigger_value=42.0
    )
    assert covariates_of(at=T0, trigger_order_id=None, orders=[]) == Covariates()


def _ingest(store, rows):
    records = [
        OrderRecord(
            external_id=order_id,
            customer=CustomerRecord(external_id=customer, email=f"{customer}@example.com"),
            placed_at=placed_at,
            line_items=(LineItemRecord("milk", 1, Decimal(total), product_name="Milk"),),
            currency=currency,
        )
        for order_id, customer, placed_at, total, currency in rows
    ]
    return ingest_orders(store=store, records=records, now=T0).created


def _repeat_flow(store):
    add_templates(store, T0, "thanks")
    definition = {
        "name": "Thanks",
        "trigger": {"event": "any_purchase"},
        "holdout_percent": 0,
        "steps": [{"type": "delay", "days": 1}, {"type": "email", "template": "thanks"}],
    }
    return install_flow(store=store, slug="thanks", definition=definition, now=T0)


@pytest.mark.django_db
def test_a_journey_keeps_its_customers_past_purchases_in_the_stores_currency(store):
    _repeat_flow(store)
    _ingest(
        store,
        [
            ("old", "ann", T0 - 10 * DAY, "30.00", "USD"),
            ("euro", "ann", T0 - 5 * DAY, "70.00", "EUR"),  # another currency: not counted
        ],
    )
    ids = _ingest(store, [("now", "ann", T0, "12.00", "USD")])
    process_orders(store=store, order_ids=ids, now=T0)
    journey = Enrollment.objects.get(trigger_order_id=ids[0])
    assert (journey.spend_90d, journey.orders_90d, journey.trigger_value) == (30.0, 1, 12.0)


BEFORE = [("flows", "0007_enrollment_holdout_and_variants")]


@pytest.mark.django_db(transaction=True)
def test_upgrading_fills_in_the_covariates_of_journeys_already_started():
    store = create_store(name="Shop", slug="shop", now=T0)
    _repeat_flow(store)
    _ingest(store, [("old", "bob", T0 - 20 * DAY, "8.00", "USD")])
    trigger = _ingest(store, [("now", "bob", T0, "15.00", "USD")])
    process_orders(store=store, order_ids=trigger, now=T0)
    untouched = _ingest(store, [("first", "cy", T0, "3.00", "USD")])
    process_orders(store=store, order_ids=untouched, now=T0)
    Enrollment.objects.update(spend_90d=0, orders_90d=0, trigger_value=0)

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())

    covariates = {
        e.customer.external_id: (e.spend_90d, e.orders_90d, e.trigger_value)
        for e in Enrollment.objects.select_related("customer")
    }
    assert covariates == {"bob": (8.0, 1, 15.0), "cy": (0.0, 0, 3.0)}

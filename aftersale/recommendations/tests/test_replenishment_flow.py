"""The ready replenishment flow waits until the customer is due, then shows what is."""

import datetime as dt

import pytest

from aftersale.flows.models import Enrollment, EnrollmentState
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.services import install_library_flow, process_orders
from aftersale.flows.tests.helpers import add_templates
from aftersale.messaging.models import Message, MessageStatus, SkipReason
from aftersale.orders.models import Order
from aftersale.recommendations.models import FitRun
from aftersale.recommendations.services import fit_due_stores, fit_recommendations
from aftersale.recommendations.tests.conftest import DAY0, Shop

BOUGHT = DAY0 + dt.timedelta(days=60, hours=3)  # 15:00 UTC


@pytest.fixture
def pantry(shop: Shop) -> Shop:
    """Coffee is rebought every 10 days; tea has no interval. The flow is live."""
    shop.products("coffee", category="coffee")
    shop.products("tea", category="tea")
    for who in ["b1", "b2", "b3"]:
        for day in (0, 10, 20):
            shop.baskets(["coffee"], customer=who, at=DAY0 + dt.timedelta(days=day))
    shop.baskets(["tea"], times=3)
    fit_recommendations(store=shop.store, until=BOUGHT)
    add_templates(shop.store, DAY0, "replenishment")
    install_library_flow(store=shop.store, slug="replenishment", now=DAY0)
    return shop


def _buy(shop: Shop, product: str, customer: str) -> None:
    shop.baskets([product], customer=customer, at=BOUGHT)
    order = Order.objects.get(customer__external_id=customer, placed_at=BOUGHT)
    process_orders(store=shop.store, order_ids=[order.pk], now=BOUGHT)


def _run(shop: Shop, now: dt.datetime) -> None:
    while run_due_enrollments(now=now, store=shop.store).claimed:
        pass


def test_the_email_goes_out_two_days_before_the_customer_is_due(pantry):
    _buy(pantry, "coffee", "ann")
    _run(pantry, BOUGHT)
    # Due ten days after buying, so sent eight days after, at 10:00 (the store's zone).
    _run(pantry, BOUGHT + dt.timedelta(days=8))
    assert not Message.objects.exists()
    _run(pantry, BOUGHT + dt.timedelta(days=8, hours=19))
    message = Message.objects.get()
    assert message.send_after.replace(tzinfo=dt.UTC) >= dt.datetime(
        2024, 3, 9, 10, 0, tzinfo=dt.UTC
    )
    assert message.recommendations == [
        {
            "product_id": pantry.ids["coffee"],
            "reason": "Time to restock your Coffee",
            "strategy": "replenishment",
        }
    ]


def test_a_customer_with_nothing_to_restock_gets_no_email(pantry):
    _buy(pantry, "tea", "tim")
    _run(pantry, BOUGHT + dt.timedelta(days=1))
    assert Enrollment.objects.get().state == EnrollmentState.COMPLETED
    # The decision not to send is kept, with its reason, for the report's Skipped.
    assert list(Message.objects.values_list("status", "skip_reason")) == [
        (MessageStatus.SKIPPED, SkipReason.FILTER_NO_LONGER_MET)
    ]


def test_the_worker_fits_each_store_once_a_day(pantry):
    FitRun.objects.all().delete()
    first = fit_due_stores(now=BOUGHT)
    assert [store for store, _ in first] == [pantry.store]
    assert fit_due_stores(now=BOUGHT + dt.timedelta(hours=23)) == []
    assert len(fit_due_stores(now=BOUGHT + dt.timedelta(days=1))) == 1

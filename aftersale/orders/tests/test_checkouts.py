"""Specification of checkout ingest: idempotent on the store's id, changing while open."""

import datetime as dt
from decimal import Decimal

from aftersale.customers.records import CustomerRecord
from aftersale.orders.checkouts import ingest_checkouts
from aftersale.orders.models import Checkout
from aftersale.orders.records import CheckoutRecord, LineItemRecord

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def _checkout(*lines: tuple[str, int], **fields) -> CheckoutRecord:
    return CheckoutRecord(
        external_id="k1",
        customer=CustomerRecord("c1", "ada@example.com"),
        started_at=T0,
        line_items=tuple(LineItemRecord(p, q, Decimal("5.00")) for p, q in lines),
        **fields,
    )


def _lines() -> list[tuple[str, int]]:
    checkout = Checkout.objects.get()
    return [(line.product.external_id, line.quantity) for line in checkout.lines.order_by("id")]


def test_the_same_checkout_twice_is_one_checkout_and_the_repeat_changes_nothing(store):
    first = ingest_checkouts(store=store, records=[_checkout(("mug", 1))], now=T0)
    again = ingest_checkouts(store=store, records=[_checkout(("mug", 1))], now=T0)

    assert (len(first.created), again.created, again.updated, again.unchanged) == (1, [], [], 1)
    assert _lines() == [("mug", 1)]


def test_an_open_checkout_takes_the_new_cart_and_a_completed_one_keeps_its_lines(store):
    ingest_checkouts(store=store, records=[_checkout(("mug", 1))], now=T0)

    ingest_checkouts(store=store, records=[_checkout(("mug", 2), ("tea", 1))], now=T0)
    assert (_lines(), Checkout.objects.get().total) == ([("mug", 2), ("tea", 1)], Decimal("15"))

    done = _checkout(("mug", 9), completed_at=T0 + dt.timedelta(hours=1))
    ingest_checkouts(store=store, records=[done], now=T0)
    assert _lines() == [("mug", 2), ("tea", 1)]
    assert Checkout.objects.get().completed_at == T0 + dt.timedelta(hours=1)

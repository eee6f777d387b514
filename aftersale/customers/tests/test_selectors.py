"""Specification of reading customers."""

import datetime as dt

from aftersale.customers.records import CustomerRecord
from aftersale.customers.selectors import store_customers
from aftersale.customers.services import erase_customer, unsubscribe, upsert_customers

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def test_an_unsubscribed_customer_is_listed_as_not_accepting_marketing(store):
    upsert_customers(
        store=store,
        records=[
            CustomerRecord("ann", "ann@example.com"),
            CustomerRecord("bob", "bob@example.com"),
        ],
        now=T0,
    )
    unsubscribe(customer=store_customers(store=store).get(external_id="bob"), now=T0)

    def ids(accepts: bool) -> list[str]:
        customers = store_customers(store=store, accepts_marketing=accepts)
        return list(customers.values_list("external_id", flat=True))

    assert (ids(True), ids(False)) == (["ann"], ["bob"])


def test_an_erased_customer_is_not_listed(store):
    upsert_customers(store=store, records=[CustomerRecord("ann", "ann@example.com")], now=T0)

    erase_customer(customer=store_customers(store=store).get(), now=T0)

    assert not store_customers(store=store).exists()

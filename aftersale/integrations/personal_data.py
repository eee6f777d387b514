"""A customer's personal data across the apps that keep it (GDPR): everything stored
about them, and its erasure. Here, above every app that holds some, because each app's
own service removes its part: customers (the profile), orders (addresses, payment
details, recovery links), messaging (addresses and subjects of emails, the suppression
list), tracking (events) and recommendations (picks)."""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from aftersale.customers.models import Customer
from aftersale.customers.services import erase_customer
from aftersale.integrations.platforms.erasure import erase_customer_deliveries
from aftersale.messaging.models import Message
from aftersale.messaging.outbox.selectors import customer_messages
from aftersale.messaging.outbox.services import erase_recipient
from aftersale.orders.models import Checkout, Order
from aftersale.orders.selectors import customer_checkouts, store_orders
from aftersale.orders.services import erase_customer_orders
from aftersale.recommendations.services import erase_customer_picks
from aftersale.stores.models import Store
from aftersale.tracking.models import Event
from aftersale.tracking.selectors import customer_events
from aftersale.tracking.services import erase_customer_events


@dataclass(frozen=True)
class CustomerData:
    """Everything stored about one customer: the profile, orders (with their lines),
    checkouts, emails and events."""

    customer: Customer
    orders: list[Order]
    checkouts: list[Checkout]
    messages: list[Message]
    events: list[Event]


def customer_data(*, store: Store, customer: Customer) -> CustomerData:
    """Everything `store` keeps about `customer` (one of its customers)."""
    return CustomerData(
        customer=customer,
        orders=list(store_orders(store=store).filter(customer=customer)),
        checkouts=list(customer_checkouts(customer_id=customer.pk)),
        messages=list(customer_messages(customer_id=customer.pk)),
        events=list(customer_events(customer_id=customer.pk)),
    )


def erase_customer_data(*, store: Store, customer: Customer, now: dt.datetime) -> None:
    """Erase `customer`'s personal data (address, names, shipping addresses, what was
    written to them, what they did that no report counts) in one transaction. The
    counts every report makes stay as they were: the customer's row, journeys, orders'
    totals and lines, emails' statuses and the opens and clicks of them remain, tied to
    no one. A later order with the same address or id starts a new customer."""
    with transaction.atomic():
        erase_recipient(store=store, customer=customer)
        erase_customer_events(customer_id=customer.pk)
        erase_customer_picks(customer_id=customer.pk)
        erase_customer_orders(customer_id=customer.pk)
        erase_customer_deliveries(store=store, external_id=customer.external_id)
        erase_customer(customer=customer, now=now)

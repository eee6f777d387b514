"""The production-mode test's data: a store, a live three-email flow with a day between
the emails, and `count` first-time buyers enrolled through the real services. Run in a
child process against the test's own database:

    aftersale shell -c "from aftersale.production.tests.journey_data import populate;
                        populate(count=N)"
"""

import datetime as dt
import json

from aftersale.customers.models import Customer
from aftersale.flows.services import install_flow, process_orders
from aftersale.lib.clock import now as clock_now
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import Order, OrderStatus
from aftersale.stores.services import create_store

# Guards off so the wall-clock hour (quiet hours) or the earlier emails of the journey
# (smart sending) cannot hold an email back.
THREE_EMAILS = {
    "name": "Three emails",
    "trigger": {"event": "any_purchase"},
    "exit_when": [],
    "guards": {"quiet_hours": None, "smart_sending_hours": 0},
    "steps": [
        {"type": "email", "template": "thank-you"},
        {"type": "delay", "days": 1},
        {"type": "email", "template": "thank-you"},
        {"type": "delay", "days": 1},
        {"type": "email", "template": "thank-you"},
    ],
}
EMAILS_PER_JOURNEY = 3
DAYS_BETWEEN = 1


def populate(*, count: int) -> None:
    """Create the store, its templates and the live flow, `count` customers with one paid
    order each placed a minute ago, enroll them all; print {"enrollments": n}."""
    now = clock_now()
    store = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="Prod Shop", slug="prod", now=now
    )
    install_default_templates(store=store, now=now)
    install_flow(store=store, slug="three", definition=THREE_EMAILS, now=now)
    placed = now - dt.timedelta(minutes=1)
    customers = Customer.objects.bulk_create(
        Customer(
            store=store,
            external_id=f"c{i}",
            email=f"buyer{i}@example.com",
            first_name=f"Buyer{i}",
            created_at=placed,
        )
        for i in range(count)
    )
    orders = Order.objects.bulk_create(
        Order(
            store=store,
            external_id=f"o{c.external_id}",
            customer=c,
            status=OrderStatus.PAID,
            total="25.00",
            placed_at=placed,
        )
        for c in customers
    )
    enrolled = process_orders(store=store, order_ids=[o.pk for o in orders], now=now)
    print(json.dumps({"enrollments": len(enrolled)}))

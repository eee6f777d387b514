"""The crash test's data, made through the real services inside a scenario database.

Run in a child process against the scenario database (the test's own process is bound to
pytest-django's test database):

    aftersale shell -c "from aftersale.worker.tests.crash_data import populate; populate(count=N)"
"""

import datetime as dt
import json
from typing import Any

from aftersale.customers.models import Customer
from aftersale.flows.services import install_flow, process_orders
from aftersale.lib.clock import now as clock_now
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import Order, OrderStatus
from aftersale.stores.services import create_store

# One marketing email per journey; guards off so the wall-clock hour of the run (quiet
# hours) or earlier runs (smart sending) cannot hold messages back.
CRASH_FLOW = {
    "name": "Crash",
    "trigger": {"event": "any_purchase"},
    "exit_when": [],
    "guards": {"quiet_hours": None, "smart_sending_hours": 0},
    "steps": [{"type": "email", "template": "thank-you"}],
}
EMAIL_STEPS = 1
_CHUNK = 2000


def populate(*, count: int, definition: dict[str, Any] = CRASH_FLOW, slug: str = "crash") -> None:
    """Create a store with the default templates and the live flow `definition` (the
    Crash flow) as `slug`, `count` customers with one order each placed a minute ago, and
    enroll them all through process_orders; print {"enrollments": n} as JSON."""
    now = clock_now()
    store = create_store(
        physical_address="2 Test Lane, Springfield, USA", name="Crash Shop", slug=slug, now=now
    )
    install_default_templates(store=store, now=now)
    install_flow(store=store, slug=slug, definition=definition, now=now)
    placed = now - dt.timedelta(minutes=1)
    enrolled = 0
    for start in range(0, count, _CHUNK):
        numbers = range(start, min(start + _CHUNK, count))
        customers = Customer.objects.bulk_create(
            Customer(
                store=store,
                external_id=f"c{i}",
                email=f"buyer{i}@example.com",
                first_name=f"Buyer{i}",
                created_at=placed,
            )
            for i in numbers
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
        enrolled += len(process_orders(store=store, order_ids=[o.pk for o in orders], now=now))
    print(json.dumps({"enrollments": enrolled}))

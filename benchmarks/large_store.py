"""A large store of the post-purchase upsell's shape, generated in the database for the
report benchmarks (dashboard.py, report.py), on SQLite or PostgreSQL.

Set-based INSERT ... SELECT over a number series (nothing is held in Python, so memory
stays bounded): `customers` customers, each with a first order that enrolled them in
the upsell flow (one in ten held out), one in ten with a second order two days after
entering; `messages` emails of the journeys (step 1 to every journey, then step 3, then
step 5), a person's opens of two messages in five and clicks on one in ten, each second
order credited to the click on its customer's first email (attribution); and three more
flows with nobody in them, for the automations page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

START = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC)
SPAN_DAYS = 180  # the journeys' entries are spread over this many days
BATCH = 250_000  # rows per INSERT ... SELECT
UPSELL = {
    "name": "Post-purchase upsell",
    "trigger": {"event": "first_purchase"},
    "exit_when": ["purchased_again"],
    "holdout_percent": 10,
    "steps": [
        {"type": "delay", "hours": 1},
        {"type": "email", "template": "thank-you"},
        {"type": "delay", "days": 3},
        {"type": "email", "template": "offer"},
        {"type": "delay", "days": 4},
        {"type": "email", "template": "reminder"},
    ],
}
OTHER_FLOWS = ("cross-sell", "review-request", "win-back")
# The moment the reports are read: a month after the last journey started.
NOW = START + dt.timedelta(days=SPAN_DAYS + 30)


def generate_store(slug: str, *, customers: int, messages: int) -> Any:
    """Generate the store `slug` (see the module) and return it."""
    from django.contrib.auth.models import User

    from aftersale.flows.services import install_flow
    from aftersale.messaging.models import EmailTemplate
    from aftersale.stores.services import add_member, create_store

    store = create_store(name=f"{slug.title()} Shop", slug=slug, now=START)
    add_member(store=store, user=User.objects.create_user(username=f"{slug}-owner"))
    templates = {}
    for template in ("thank-you", "offer", "reminder"):
        templates[template] = EmailTemplate.objects.create(
            store=store,
            slug=template,
            name=template,
            kind="thank_you",
            subject="Hello",
            body_mjml="<mjml><mj-body></mj-body></mjml>",
            updated_at=START,
        ).pk
    flow = install_flow(store=store, slug="post-purchase-upsell", definition=UPSELL, now=START)
    for other in OTHER_FLOWS:
        install_flow(store=store, slug=other, definition={**UPSELL, "name": other}, now=START)
    rows = {
        "store": store.pk,
        "flow": flow.pk,
        "version": flow.versions.get().pk,
        "start": START.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "spacing": SPAN_DAYS * 86_400 / customers,  # seconds between two entries
        "customers": customers,
        "t1": templates["thank-you"],
        "t2": templates["offer"],
        "t3": templates["reminder"],
    }
    first_customer = _next_id("customers_customer")
    _insert("customers_customer", customers, _customer_columns, rows, base=first_customer)
    _insert("orders_order", customers, _first_order_columns, rows, base=first_customer)
    _insert("orders_order", customers // 10, _second_order_columns, rows, base=first_customer)
    first_enrollment = _next_id("flows_enrollment")
    _insert("flows_enrollment", customers, _enrollment_columns, rows, base=first_customer)
    first_message = _next_id("messaging_message")
    rows.update(first_enrollment=first_enrollment, first_customer=first_customer)
    _insert("messaging_message", messages, _message_columns, rows, base=first_customer)
    _insert("tracking_event", messages * 2 // 5, _open_columns, rows, base=first_message)
    _insert("tracking_event", messages // 10, _click_columns, rows, base=first_message)
    _insert("attribution_attribution", customers // 10, _credit_columns, rows, base=first_message)
    return store


def analyze() -> None:
    """Refresh the planner's statistics after generating, and on PostgreSQL the
    visibility map too, as autovacuum does on a live database after a load: without it
    no index-only scan skips the table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _at(seconds: str, *, days: int = 0) -> str:
    """SQL of START plus `seconds` (an SQL expression) and `days`, as the database
    writes a moment."""
    from django.db import connection

    if connection.vendor == "postgresql":
        later = f" + interval '{days} days'" if days else ""
        return f"(%(start)s::timestamptz + make_interval(secs => {seconds}){later})"
    later = f", '+{days} days'" if days else ""
    return (
        f"strftime('%%Y-%%m-%%d %%H:%%M:%%S', %(start)s, "
        f"'+' || CAST({seconds} AS INTEGER) || ' seconds'{later})"
    )


# Each table's generated columns as SQL over the row number i and the parameters, made
# when a table is generated (the database decides how a moment is written); a column not
# named keeps its model default. %(base)s is the first id the rows refer to.
_ENTRY = "i * %(spacing)s"  # journey i's entry, in seconds after START
_JOURNEY_OF_MESSAGE = "(i % %(customers)s) * %(spacing)s"


def _customer_columns() -> dict[str, str]:
    return {
        "store_id": "%(store)s",
        "external_id": "'c' || i",
        "email": "'buyer' || i || '@example.com'",
        "accepts_marketing": "(1 = 1)",
        "created_at": _at(_ENTRY),
    }


def _first_order_columns() -> dict[str, str]:
    return {
        "store_id": "%(store)s",
        "external_id": "'o' || i",
        "customer_id": "%(base)s + i",
        "status": "'paid'",
        "currency": "'USD'",
        "total": "20 + i % 80",
        "placed_at": _at(_ENTRY),
    }


def _second_order_columns() -> dict[str, str]:
    """One customer in ten (i * 10) buys again two days after entering the flow."""
    return {
        **_first_order_columns(),
        "external_id": "'r' || i",
        "customer_id": "%(base)s + i * 10",
        "total": "35 + i % 50",
        "placed_at": _at("i * 10 * %(spacing)s", days=2),
    }


def _enrollment_columns() -> dict[str, str]:
    """Journey i: one in ten exited on their purchase two days in, seven in ten completed
    eight days in, the rest wait at the 3-day delay (step index 2) or the 4-day one (4);
    one in ten (i % 100 < 10) is held out."""
    return {
        "store_id": "%(store)s",
        "flow_id": "%(flow)s",
        "version_id": "%(version)s",
        "customer_id": "%(base)s + i",
        "state": "CASE WHEN i % 10 = 0 THEN 'exited' WHEN i % 10 < 8 THEN 'completed' "
        "ELSE 'active' END",
        "step_index": "CASE WHEN i % 10 = 0 THEN 2 WHEN i % 10 < 8 THEN 6 "
        "WHEN i % 10 = 8 THEN 2 ELSE 4 END",
        "passed_steps": "CASE WHEN i % 10 = 0 THEN 3 WHEN i % 10 < 8 THEN 63 "
        "WHEN i % 10 = 8 THEN 3 ELSE 15 END",
        "exit_reason": "CASE WHEN i % 10 = 0 THEN 'purchased_again' ELSE '' END",
        "entered_at": _at(_ENTRY),
        "ended_at": f"CASE WHEN i % 10 = 0 THEN {_at(_ENTRY, days=2)} "
        f"WHEN i % 10 < 8 THEN {_at(_ENTRY, days=8)} END",
        "due_at": f"CASE WHEN i % 10 >= 8 THEN {_at(_ENTRY, days=9)} END",
        "holdout": "(i % 100 < 10)",
    }


def _message_columns() -> dict[str, str]:
    """Message i goes to journey i mod N: the first N are step 1, the next N step 3,
    then 5."""
    sent = _at(_JOURNEY_OF_MESSAGE)
    return {
        "store_id": "%(store)s",
        "customer_id": "%(base)s + i % %(customers)s",
        "flow_id": "%(flow)s",
        "enrollment_id": "%(first_enrollment)s + i % %(customers)s",
        "step_index": "1 + 2 * (i / %(customers)s)",
        "template_id": "CASE i / %(customers)s WHEN 0 THEN %(t1)s WHEN 1 THEN %(t2)s "
        "ELSE %(t3)s END",
        "campaign": "'post-purchase-upsell'",
        "idempotency_key": "'bench:' || %(store)s || ':' || i",
        "to_email": "'buyer' || (i % %(customers)s) || '@example.com'",
        "status": "CASE WHEN i % 50 = 0 THEN 'bounced' ELSE 'delivered' END",
        "queued_at": sent,
        "send_after": sent,
        "sent_at": sent,
        "delivered_at": sent,
        # Engagement's bits, as tracking marks them with the events below: read, clicked.
        "engagement": "CASE WHEN i % 5 < 2 THEN 1 ELSE 0 END + "
        "CASE WHEN i % 10 = 0 THEN 2 ELSE 0 END",
    }


def _open_columns() -> dict[str, str]:
    """A person's opens of two messages in five (5j/2 and 5j/2 + 1)."""
    return {
        "store_id": "%(store)s",
        "customer_id": "%(first_customer)s + ((i / 2) * 5 + i % 2) % %(customers)s",
        "message_id": "%(base)s + (i / 2) * 5 + i % 2",
        "kind": "'opened'",
        "occurred_at": _at(_ENTRY),
        "once_key": "'open'",
    }


def _click_columns() -> dict[str, str]:
    """Clicks on one message in ten (10j: a thank-you for j < N/10)."""
    return {
        **_open_columns(),
        "customer_id": "%(first_customer)s + (i * 10) % %(customers)s",
        "message_id": "%(base)s + i * 10",
        "kind": "'clicked'",
        "url": "'https://shop.example.com/'",
        "once_key": "'click:0'",
        "occurred_at": _at("i * 10 * %(spacing)s", days=1),
    }


def _credit_columns() -> dict[str, str]:
    """Second order i (customer 10i's) credited to the click on message 10i, the
    thank-you of journey 10i, a day before the order."""
    return {
        "order_id": "(SELECT id FROM orders_order WHERE store_id = %(store)s "
        "AND external_id = 'r' || i)",
        "store_id": "%(store)s",
        "message_id": "%(base)s + i * 10",
        "flow_id": "%(flow)s",
        "enrollment_id": "%(first_enrollment)s + i * 10",
        "step_index": "1",
        "via": "'click'",
        "touched_at": _at("i * 10 * %(spacing)s", days=1),
    }


def _insert(table: str, count: int, columns_of: Any, params: dict[str, Any], base: int) -> None:
    """INSERT `count` rows into `table`, BATCH rows per statement and transaction."""
    from django.apps import apps
    from django.db import connection, models, transaction

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField))
    ]
    defaults = {str(f.column): f.get_db_prep_value(f.get_default(), connection) for f in fields}
    expressions = columns_of()
    columns = [str(f.column) for f in fields]
    values = ", ".join(expressions.get(c, f"%(default_{c})s") for c in columns)
    values = values.replace(" % ", " %% ")  # the modulo operator, not a parameter
    bound = {**params, "base": base, **{f"default_{c}": v for c, v in defaults.items()}}
    for low in range(0, count, BATCH):
        high = min(count, low + BATCH) - 1
        insert = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM"
        if connection.vendor == "postgresql":
            sql = f"{insert} generate_series({low}, {high}) AS s(i)"
        else:
            series = f"SELECT {low} UNION ALL SELECT i + 1 FROM s WHERE i < {high}"
            sql = f"WITH RECURSIVE s(i) AS ({series}) {insert} s"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, bound)


def _next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
        return int(cursor.fetchone()[0])

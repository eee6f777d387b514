"""Writing customers."""

import datetime as dt
from collections.abc import Sequence

from aftersale.customers.models import ERASED_ID_PREFIX, Customer
from aftersale.customers.records import CustomerRecord
from aftersale.lib import bulk
from aftersale.stores.models import Store

_UPDATABLE = [
    "email",
    "first_name",
    "last_name",
    "time_zone",
    "locale",
    "birthday",
    "accepts_marketing",
]


def upsert_customers(
    *, store: Store, records: Sequence[CustomerRecord], now: dt.datetime
) -> dict[str, int]:
    """Create or update `records`; return the customer id for every external id given.

    Blank text fields keep the stored value; a withdrawn consent is always applied.
    """
    by_external_id = {record.external_id: record for record in records}
    # The ids first, in one plain query: only the customers already stored are loaded
    # (to be compared with their records); a history import's are mostly new.
    known = bulk.ids_by_key(
        model=Customer, key="external_id", values=by_external_id, store_id=store.pk
    )
    existing = (
        {c.external_id: c for c in Customer.objects.filter(bulk.id_in("pk", known.values()))}
        if known
        else {}
    )
    changed = [c for eid, c in existing.items() if _apply(c, by_external_id[eid])]
    if changed:
        Customer.objects.bulk_update(changed, _UPDATABLE, batch_size=500)
    new = [record for eid, record in by_external_id.items() if eid not in existing]
    if not new:
        # Every customer was known: their ids are at hand, no need to read them again.
        return {eid: customer.pk for eid, customer in existing.items()}
    _insert_customers(store, new, now)
    ids = bulk.ids_by_key(
        model=Customer, key="external_id", values=[r.external_id for r in new], store_id=store.pk
    )
    return {**{eid: customer.pk for eid, customer in existing.items()}, **ids}


def _insert_customers(store: Store, records: list[CustomerRecord], now: dt.datetime) -> None:
    """INSERT `records` as new customers, one tuple per row (no instance); one another
    process wrote meanwhile is left as it is."""
    moment = bulk.datetime_adapter(Customer)(now)
    connection = bulk.connection_for(Customer)
    store_id = store.pk
    rows = [
        (
            store_id,
            moment,
            *(
                connection.ops.adapt_datefield_value(value) if name == "birthday" else value
                for name, value in _fields(record).items()
            ),
        )
        for record in records
    ]
    bulk.insert_rows(model=Customer, fields=_NEW_FIELDS, rows=rows, ignore_conflicts=True)


def unsubscribe(*, customer: Customer, now: dt.datetime) -> bool:
    """Stop all marketing email to `customer`; False when they were already unsubscribed."""
    updated = Customer.objects.filter(pk=customer.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=now
    )
    customer.refresh_from_db(fields=["unsubscribed_at"])
    return updated == 1


# The fields a record gives, in the order _fields lists them.
_FIELDS = [
    "external_id",
    "email",
    "first_name",
    "last_name",
    "time_zone",
    "accepts_marketing",
    "locale",
    "birthday",
]
_NEW_FIELDS = ["store", "created_at", *_FIELDS]


def _fields(record: CustomerRecord) -> dict[str, object]:
    return {
        "external_id": record.external_id,
        "email": record.email,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "time_zone": record.time_zone,
        "accepts_marketing": record.accepts_marketing,
        "locale": record.locale,
        "birthday": record.birthday,
    }


def _apply(customer: Customer, record: CustomerRecord) -> bool:
    changed = False
    for field, value in _fields(record).items():
        if value in ("", None) or getattr(customer, field) == value:
            continue
        setattr(customer, field, value)
        changed = True
    return changed


def erase_customer(*, customer: Customer, now: dt.datetime) -> None:
    """Remove what identifies `customer` (address, names, time zone, locale, birthday)
    and give the row an id the store never sends, so a later order with the same id or
    address starts a new customer. The row stays, unsubscribed, for the numbers that
    count it (the journeys, orders and emails of every report)."""
    Customer.objects.filter(pk=customer.pk).update(
        external_id=f"{ERASED_ID_PREFIX}{customer.pk}",
        email="",
        first_name="",
        last_name="",
        time_zone="",
        locale="",
        birthday=None,
        accepts_marketing=False,
        unsubscribed_at=customer.unsubscribed_at or now,
    )
    customer.refresh_from_db()

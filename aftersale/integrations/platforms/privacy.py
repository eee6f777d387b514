"""A platform's privacy requests (Shopify's mandatory webhooks): a customer's data asked
for (written as JSON under AFTERSALE_HOME/privacy/<store>/ for the merchant to send
them), a customer's personal data erased, or that of every customer of the store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model

from aftersale.customers.models import ERASED_ID_PREFIX, Customer
from aftersale.integrations.personal_data import customer_data, erase_customer_data
from aftersale.integrations.platforms.base import Change, DeliveryKind
from aftersale.integrations.platforms.erasure import (
    privacy_folder,
    remove_data_request_answers,
    safe_name,
)
from aftersale.stores.models import Store


def apply_privacy_request(*, store: Store, change: Change, now: dt.datetime) -> str:
    """Apply privacy request `change` and say what was done: a data request writes the
    customer's data (integrations.personal_data.customer_data) to a JSON file under
    privacy_folder; a customer redact erases their personal data (erase_customer_data,
    which deletes the files of their earlier data requests too); a shop redact does so for every
    customer of the store. A customer the store does not know has nothing to give or
    erase (the data request's file says so)."""
    if change.kind == DeliveryKind.SHOP_REDACT:
        erased = 0
        for each in (
            Customer.objects.filter(store=store)
            .exclude(external_id__startswith=ERASED_ID_PREFIX)
            .iterator()
        ):
            erase_customer_data(store=store, customer=each, now=now)
            erased += 1
        return f"shop redacted: {erased} customer(s) erased"
    customer = Customer.objects.filter(store=store, external_id=change.subject).first()
    if change.kind == DeliveryKind.CUSTOMER_REDACT:
        if customer is None:
            remove_data_request_answers(store=store, external_id=change.subject)
            return "customer redacted: no such customer here, nothing to erase"
        erase_customer_data(store=store, customer=customer, now=now)
        return "customer redacted: personal data erased"
    path = _write_answer(store=store, change=change, customer=customer, now=now)
    return f"customer data written to {path.relative_to(path.parents[2])}"


def _records(objects: list[Model]) -> list[object]:
    records: list[object] = json.loads(serializers.serialize("json", objects))
    return records


def _write_answer(
    *, store: Store, change: Change, customer: Customer | None, now: dt.datetime
) -> Path:
    """The customer's data as JSON in a new file; its path."""
    answer: dict[str, object] = {
        "store": store.slug,
        "customer_id": change.subject,
        "data_request_id": change.request_id,
        "written_at": now.isoformat(),
    }
    if customer is None:
        answer["note"] = "no data is kept about this customer"
    else:
        data = customer_data(store=store, customer=customer)
        answer |= {
            "customer": _records([data.customer])[0],
            "orders": _records(list(data.orders)),
            "line_items": _records([li for o in data.orders for li in o.line_items.all()]),
            "checkouts": _records(list(data.checkouts)),
            "messages": _records(list(data.messages)),
            "events": _records(list(data.events)),
        }
    folder = privacy_folder(store=store)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"customer-{safe_name(change.subject)}-request-{safe_name(change.request_id)}"
    path = folder / f"{name}-{now:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(answer, cls=DjangoJSONEncoder, indent=2), encoding="utf-8")
    return path

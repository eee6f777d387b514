"""A platform's privacy requests (Shopify's mandatory webhooks): a customer's data asked
for (written as JSON under AFTERSALE_HOME/privacy/<store>/ for the merchant to send
them), a customer's personal data erased, or that of every customer of the store."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from django.conf import settings
from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model

from aftersale.customers.models import ERASED_ID_PREFIX, Customer
from aftersale.integrations.personal_data import customer_data, erase_customer_data
from aftersale.integrations.platforms.base import Change, DeliveryKind
from aftersale.stores.models import Store


def privacy_folder(*, store: Store, home: Path | None = None) -> Path:
    """Where the answers to `store`'s data requests are written (`home`, by default
    AFTERSALE_HOME, /privacy/<store slug>/)."""
    return (Path(settings.DATA_DIR) if home is None else home) / "privacy" / store.slug


def apply_privacy_request(*, store: Store, change: Change, now: dt.datetime) -> str:
    """Apply privacy request `change` and say what was done: a data request writes the
    customer's data (integrations.personal_data.customer_data) to a JSON file under
    privacy_folder; a customer redact erases their personal data (erase_customer_data)
    and the files of their earlier data requests; a shop redact does so for every
    customer of the store. A customer the store does not know has nothing to give or
    erase (the data request's file says so)."""
    if change.kind == DeliveryKind.SHOP_REDACT:
        erased = 0
        for each in (
            Customer.objects.filter(store=store)
            .exclude(external_id__startswith=ERASED_ID_PREFIX)
            .iterator()
        ):
            _erase(store=store, customer=each, now=now)
            erased += 1
        return f"shop redacted: {erased} customer(s) erased"
    customer = Customer.objects.filter(store=store, external_id=change.subject).first()
    if change.kind == DeliveryKind.CUSTOMER_REDACT:
        if customer is None:
            _remove_answers(store=store, external_id=change.subject)
            return "customer redacted: no such customer here, nothing to erase"
        _erase(store=store, customer=customer, now=now)
        return "customer redacted: personal data erased"
    path = _write_answer(store=store, change=change, customer=customer, now=now)
    return f"customer data written to {path.relative_to(path.parents[2])}"


def _erase(*, store: Store, customer: Customer, now: dt.datetime) -> None:
    external_id = customer.external_id
    erase_customer_data(store=store, customer=customer, now=now)
    _remove_answers(store=store, external_id=external_id)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80] or "none"


def _remove_answers(*, store: Store, external_id: str) -> None:
    for path in privacy_folder(store=store).glob(f"customer-{_safe(external_id)}-*.json"):
        path.unlink(missing_ok=True)


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
    name = f"customer-{_safe(change.subject)}-request-{_safe(change.request_id)}"
    path = folder / f"{name}-{now:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(answer, cls=DjangoJSONEncoder, indent=2), encoding="utf-8")
    return path

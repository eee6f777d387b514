"""Reading fields of a platform's JSON payload: each raises InvalidPayload naming the
field's path (e.g. "line_items[1].price") when it is missing or malformed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from aftersale.catalog.records import ProductRecord
from aftersale.integrations.platforms.base import (
    DELETED_VERSION,
    Change,
    InvalidPayload,
    Platform,
)


def where(path: str, name: str) -> str:
    """The path of field `name` of the object at `path`."""
    return f"{path}.{name}" if path else name


def id_at(obj: dict[str, Any], name: str, path: str) -> str:
    """Field `name`, an id (a number or a non-empty string), as text."""
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise InvalidPayload("missing" if value is None else "not an id", field=where(path, name))
    return str(value)


def text_at(obj: dict[str, Any] | None, name: str) -> str:
    """Field `name` stripped, "" when it is missing or not a string."""
    value = (obj or {}).get(name)
    return value.strip() if isinstance(value, str) else ""


def required_text(obj: Any, name: str, path: str) -> str:
    """Field `name` of object `obj`, a non-empty string."""
    if not isinstance(obj, dict):
        raise InvalidPayload("not an object", field=path)
    value = text_at(obj, name)
    if not value:
        raise InvalidPayload("missing", field=where(path, name))
    return value


def money_at(obj: dict[str, Any], name: str, path: str) -> Decimal:
    """Field `name`, a finite amount (a number or a numeric string)."""
    value = obj.get(name)
    if value is None:
        raise InvalidPayload("missing", field=where(path, name))
    try:
        amount = Decimal(str(value))
    except InvalidOperation as error:
        raise InvalidPayload(f"not an amount ({value!r})", field=where(path, name)) from error
    if not amount.is_finite():
        raise InvalidPayload(f"not an amount ({value!r})", field=where(path, name))
    return amount


def list_at(obj: dict[str, Any], name: str, path: str, *, required: bool = False) -> list[Any]:
    """Field `name`, a list ([] when missing and not `required`)."""
    value = obj.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise InvalidPayload("missing" if value is None else "not a list", field=where(path, name))
    return value


def time_at(
    obj: dict[str, Any], name: str, path: str = "", *, required: bool = False
) -> dt.datetime | None:
    """Field `name`, an ISO 8601 moment (UTC without an offset); None when missing
    and not `required`."""
    value = obj.get(name)
    if value in (None, ""):
        if required:
            raise InvalidPayload("missing", field=where(path, name))
        return None
    moment = Platform.parse_time(value) if isinstance(value, str) else None
    if moment is None:
        raise InvalidPayload(f"not a moment ({value!r})", field=where(path, name))
    return moment


def product_deleted(payload: dict[str, Any]) -> Change:
    """A product deletion ({"id": …} only, on every platform): the product is no longer
    sold (out of stock), whatever version of it arrives later."""
    external_id = id_at(payload, "id", "")
    return Change(
        kind="product_deleted",
        external_id=external_id,
        updated_at=DELETED_VERSION,
        products=(ProductRecord(external_id=external_id, name="", stock=0),),
    )

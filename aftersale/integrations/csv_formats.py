"""Which orders export a CSV file is, and how its columns become Aftersale's.

A file is read as one of these, chosen from its header (docs/csv-import.md):

- a `--columns` mapping given by the merchant (`order_id=Invoice,email=Email`): any
  export, its named columns read as Aftersale's;
- Aftersale's own columns (`order_id`, `placed_at`, ...);
- Shopify's order export (one row per line item, `Name`, `Lineitem quantity`, ...; the
  order's own values only on its first row; its `Id` is the order's id, as the webhooks
  name it, so a backfill and the webhooks never count an order twice);
- WooCommerce's order export (the Customer/Order CSV Export's default "one row per
  item" format: `order_id`, `order_date`, `billing_email`, `item_quantity`, ...);
- the "Online Retail" shape of a gift shop's invoices (`InvoiceNo`, `StockCode`,
  `Quantity`, `InvoiceDate`, `UnitPrice`, `CustomerID`; also its second edition's
  `Invoice`, `Price`, `Customer ID`): invoices starting with "C" are cancellations.

Each format renames the file's columns to Aftersale's (`columns`) and may rewrite a row's
values into Aftersale's forms (`adapt`: a Shopify date, a WooCommerce status, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from aftersale.integrations.csv_source import CsvFormatError

Values = dict[str, str]


@dataclass(frozen=True)
class CsvFormat:
    """How to read one kind of export: `columns` maps the file's (lower-cased) column
    names to Aftersale's, `adapt` rewrites one row's values (already renamed) in place,
    `first_row_only` says the order's own values are on its first row only, and
    `cancellation_prefix` starts the ids of invoices that cancel earlier ones."""

    name: str
    columns: Mapping[str, str] = field(default_factory=dict)
    adapt: Callable[[Values], None] | None = None
    first_row_only: bool = False
    cancellation_prefix: str = ""
    # A column of the order's first row holding the id the shop's webhooks name the
    # order by, when the rows are grouped by another (Shopify: "Id" beside "Name").
    record_id: str = ""

    def rename(self, header: list[str]) -> list[str]:
        """The header's columns under Aftersale's names; a column of the file that shares
        a name with one the format maps to is left out (named "")."""
        targets = set(self.columns.values())
        return [self.columns.get(name, "" if name in targets else name) for name in header]


# Shopify's order export (Orders > Export > CSV), one row per line item.
_SHOPIFY = {
    "name": "order_id",
    "email": "email",
    "financial status": "financial_status",
    "paid at": "paid_at",
    "fulfilled at": "fulfilled_at",
    "accepts marketing": "accepts_marketing",
    "currency": "currency",
    "total": "total",
    "discount code": "discount_codes",
    "created at": "placed_at",
    "lineitem quantity": "quantity",
    "lineitem name": "product_name",
    "lineitem price": "unit_price",
    "lineitem sku": "product_id",
    "billing name": "billing_name",
    "cancelled at": "cancelled_at",
    "refunded amount": "refunded_total",
    "id": "shopify_id",
}
# WooCommerce's Customer/Order CSV Export, default format, one row per item.
_WOOCOMMERCE = {
    "order_id": "order_id",
    "order_date": "placed_at",
    "status": "woo_status",
    "order_total": "total",
    "refunded_total": "refunded_total",
    "order_currency": "currency",
    "customer_id": "customer_id",
    "billing_first_name": "first_name",
    "billing_last_name": "last_name",
    "billing_email": "email",
    "item_product_id": "product_id",
    "item_sku": "item_sku",
    "item_name": "product_name",
    "item_quantity": "quantity",
    "item_total": "item_total",
    "item_price": "unit_price",
    "coupon_items": "coupon_items",
    "completed_date": "completed_date",
}
_ONLINE_RETAIL = {
    "invoiceno": "order_id",
    "invoice": "order_id",
    "stockcode": "product_id",
    "description": "product_name",
    "quantity": "quantity",
    "invoicedate": "placed_at",
    "unitprice": "unit_price",
    "price": "unit_price",
    "customerid": "customer_id",
    "customer id": "customer_id",
}
_SIGNATURES: list[tuple[frozenset[str], str]] = [
    (frozenset({"name", "lineitem quantity", "lineitem price", "created at"}), "shopify"),
    (frozenset({"order_id", "order_date", "billing_email", "item_quantity"}), "woocommerce"),
    (frozenset({"stockcode", "quantity", "invoicedate"}), "online-retail"),
]

# "2024-03-01 10:15:00 +0100" (Shopify) -> "2024-03-01 10:15:00+0100"
_SPACED_OFFSET = re.compile(r"\s+(?=[+-]\d\d:?\d\d$)")
# "12/1/2010 8:26" (month/day/year, as the Online Retail CSV has it)
_US_MOMENT = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d\d)(?::(\d\d))?)?$")
_SHOPIFY_PAID = {"paid", "partially_paid", "partially_refunded", "refunded"}
_WOO_STATUS = {
    "completed": "fulfilled",
    "processing": "paid",
    "refunded": "refunded",
    "cancelled": "cancelled",
}


def _shopify_row(values: Values) -> None:
    for name in ("placed_at", "paid_at", "fulfilled_at", "cancelled_at"):
        if values.get(name):
            values[name] = _SPACED_OFFSET.sub("", values[name].strip())
    values["product_id"] = values.get("product_id", "").strip() or values.get("product_name", "")
    email = values.get("email", "").strip()
    values["customer_id"] = f"email:{email.lower()}" if email else ""
    first, _, last = values.get("billing_name", "").strip().partition(" ")
    values["first_name"], values["last_name"] = first, last
    financial = values.get("financial_status", "").strip().lower()
    if financial == "refunded":
        values["status"] = "refunded"
    elif financial == "voided":
        values["status"] = "cancelled"
    elif financial in _SHOPIFY_PAID and not values.get("paid_at"):
        values["status"] = "paid"
    if values.get("refunded_total", "").strip() in ("0", "0.00", "0.0"):
        values["refunded_total"] = ""


def _woocommerce_row(values: Values) -> None:
    status = values.get("woo_status", "").strip().lower().removeprefix("wc-")
    values["status"] = _WOO_STATUS.get(status, "placed" if status else "")
    if status == "completed" and values.get("completed_date"):
        values["fulfilled_at"] = values["completed_date"]
    if values.get("customer_id", "").strip() in ("", "0"):
        email = values.get("email", "").strip()
        values["customer_id"] = f"email:{email.lower()}" if email else ""
    if not values.get("product_id", "").strip() or values["product_id"].strip() == "0":
        sku = values.get("item_sku", "").strip()
        values["product_id"] = f"sku:{sku}" if sku else values.get("product_name", "")
    if not values.get("unit_price") and values.get("item_total"):
        values["unit_price"] = _per_unit(values["item_total"], values.get("quantity", ""))
    codes = [
        part.partition(":")[2]
        for item in values.get("coupon_items", "").split(";")
        for part in item.split("|")
        if part.startswith("code:")
    ]
    values["discount_codes"] = ";".join(c for c in codes if c)


def _per_unit(total: str, quantity: str) -> str:
    try:
        count = int(quantity)
        return str(round(float(total) / count, 2)) if count else total
    except ValueError:
        return total


def _online_retail_row(values: Values) -> None:
    moment = values.get("placed_at", "").strip()
    if match := _US_MOMENT.match(moment):
        month, day, year, hour, minute, second = match.groups()
        values["placed_at"] = (
            f"{year}-{int(month):02}-{int(day):02}T{int(hour or 0):02}:{minute or '00'}"
            f":{second or '00'}"
        )
    customer = values.get("customer_id", "").strip()
    if customer.endswith(".0"):  # a spreadsheet's float: 17850.0
        values["customer_id"] = customer[:-2]


FORMATS = {
    "aftersale": CsvFormat("aftersale"),
    "shopify": CsvFormat(
        "shopify", _SHOPIFY, _shopify_row, first_row_only=True, record_id="shopify_id"
    ),
    "woocommerce": CsvFormat("woocommerce", _WOOCOMMERCE, _woocommerce_row),
    "online-retail": CsvFormat(
        "online-retail", _ONLINE_RETAIL, _online_retail_row, cancellation_prefix="C"
    ),
}


def parse_columns(text: str, *, known: Collection[str], label: str = "--columns") -> dict[str, str]:
    """A `--columns` mapping, `ours=theirs,...`, as {our column: the file's column}.
    Raises CsvFormatError, starting with `label` (where the mapping was typed), naming a
    field Aftersale does not know (and those it knows) or a pair that is not
    `name=column`."""
    mapping: dict[str, str] = {}
    for pair in (p for p in text.split(",") if p.strip()):
        ours, sep, theirs = pair.partition("=")
        ours, theirs = ours.strip().lower(), theirs.strip()
        if not sep or not ours or not theirs:
            raise CsvFormatError(f"{label}: {pair.strip()!r} is not field=Column")
        if ours not in known:
            raise CsvFormatError(
                f"{label}: {ours!r} is not a field Aftersale reads; "
                f"the fields are: {', '.join(sorted(known))}"
            )
        mapping[ours] = theirs
    return mapping


def detect_format(header: list[str], *, mapping: Mapping[str, str] | None = None) -> CsvFormat:
    """The format of a file whose (lower-cased) columns are `header`: the merchant's
    `mapping` ({our column: the file's column}) when given (a column it names that the
    file lacks raises CsvFormatError listing the file's columns), else the export its
    columns identify, else Aftersale's own."""
    if mapping:
        missing = [theirs for theirs in mapping.values() if theirs.strip().lower() not in header]
        if missing:
            raise CsvFormatError(
                f"--columns: the file has no column {', '.join(repr(m) for m in missing)}; "
                f"its columns are: {', '.join(header)}"
            )
        return CsvFormat("mapped", {t.strip().lower(): o for o, t in mapping.items()})
    names = set(header)
    for signature, name in _SIGNATURES:
        if signature <= names:
            return FORMATS[name]
    return FORMATS["aftersale"]

"""Importing order history and the catalog from CSV files (columns: docs/csv-import.md).

Files are streamed: only one chunk of orders or products is held in memory at a time.
A bad line is reported with its line number and skipped; the good ones are kept. Every
value is checked against what its column can store (lib.bounds, the models' lengths)
before anything is written, so no value can fail the write of a whole chunk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TextIO

from django.db.models import Field, Model

from aftersale.catalog.models import Product
from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import product_ids
from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.integrations.csv_fields import RowFields
from aftersale.integrations.csv_source import CsvRow, read_rows
from aftersale.integrations.services import receive_orders, receive_products
from aftersale.lib.bounds import amount_problem
from aftersale.orders.models import Order
from aftersale.orders.records import LineItemRecord, OrderRecord, lines_total
from aftersale.stores.models import Store

ORDER_COLUMNS = [
    "order_id",
    "customer_id",
    "email",
    "first_name",
    "placed_at",
    "product_id",
    "quantity",
    "unit_price",
]
PRODUCT_COLUMNS = ["product_id", "name"]
_STAMPS = ["paid_at", "fulfilled_at", "delivered_at", "refunded_at", "cancelled_at"]
_ORDER_READS = [
    *ORDER_COLUMNS,
    "last_name",
    "product_name",
    "category",
    "status",
    *_STAMPS,
    "total",
    "discount_codes",
    "currency",
    "time_zone",
    "accepts_marketing",
]
_PRODUCT_READS = [
    *PRODUCT_COLUMNS,
    "category",
    "department",
    "brand",
    "price",
    "stock",
    "image_url",
    "url",
]
# A status given without its timestamp is taken to have happened when the order was placed.
_STATUS_STAMP = {
    "placed": None,
    "paid": "paid_at",
    "fulfilled": "fulfilled_at",
    "delivered": "delivered_at",
    "refunded": "refunded_at",
    "cancelled": "cancelled_at",
    "canceled": "cancelled_at",
}

Row = dict[str | None, str | list[str] | None]
# Called after each chunk with the report so far (the caller may ask its file how far it read).
Progress = Callable[["ImportReport"], None]


def _max(model: type[Model], name: str) -> int:
    """The length the column behind `model.name` holds (PostgreSQL enforces it)."""
    column = model._meta.get_field(name)
    assert isinstance(column, Field) and column.max_length is not None
    return column.max_length


@dataclass
class ImportReport:
    """What an import did. `imported` counts orders (or products); `errors` lists
    (line number, reason) for every line that was skipped."""

    kind: str
    rows_read: int = 0
    rows_imported: int = 0
    imported: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _OrderDraft:
    """The rows of one order seen so far."""

    order_id: str
    first: RowFields
    record: OrderRecord | None
    items: list[LineItemRecord] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0
    line: int = 0


def import_orders_csv(
    *,
    store: Store,
    stream: TextIO,
    now: dt.datetime,
    chunk_size: int = 1000,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an orders CSV (one row per line item, rows of an order adjacent) through
    `receive_orders`, `chunk_size` orders at a time. An order with any bad line is skipped
    whole and each of its bad lines reported; a missing required column raises
    CsvFormatError before anything is imported. Re-importing a file is harmless."""
    rows = read_rows(stream, required=ORDER_COLUMNS, read=_ORDER_READS)
    report = ImportReport(kind="orders")
    for drafts in _order_chunks(rows, chunk_size, report):
        for draft in drafts:
            if not draft.errors and (problem := _total_problem(draft)):
                draft.errors.append((draft.line, problem))
            report.errors += draft.errors
        good = [d for d in drafts if not d.errors and d.record is not None]
        report.skipped += len(drafts) - len(good)
        records = [_finish(d, default_currency=store.currency) for d in good]
        if records:
            result = receive_orders(store=store, records=records, now=now)
            report.created += len(result.created)
            report.updated += len(result.updated)
            report.unchanged += result.unchanged
        report.imported += len(records)
        report.rows_imported += sum(d.rows for d in good)
        if progress:
            progress(report)
    report.errors.sort()
    return report


def import_products_csv(
    *, store: Store, stream: TextIO, chunk_size: int = 1000, progress: Progress | None = None
) -> ImportReport:
    """Create or update the products of a products CSV (one row per product) through
    `receive_products`; blank cells keep the stored value. Bad rows are reported and
    skipped; a missing required column raises CsvFormatError before anything is imported."""
    rows = read_rows(stream, required=PRODUCT_COLUMNS, read=_PRODUCT_READS)
    report = ImportReport(kind="products")
    for chunk in _product_chunks(rows, chunk_size, report):
        known = product_ids(store=store, external_ids=chunk)
        receive_products(store=store, records=list(chunk.values()))
        report.created += len(chunk.keys() - known.keys())
        report.updated += len(chunk.keys() & known.keys())
        report.imported += len(chunk)
        if progress:
            progress(report)
    report.errors.sort()
    return report


def _order_chunks(
    rows: Iterator[CsvRow], chunk_size: int, report: ImportReport
) -> Iterator[list[_OrderDraft]]:
    """Group adjacent rows into orders and yield them `chunk_size` orders at a time."""
    pending: dict[str, _OrderDraft] = {}
    done: set[str] = set()
    for row in rows:
        line, fields = row.line, RowFields(row.values, row.errors)
        report.rows_read += 1
        # A line the csv module could not read has no values to name an order by.
        order_id = row.values and fields.identifier(
            "order_id", max_length=_max(Order, "external_id")
        )
        if not order_id:
            report.errors.append((line, "; ".join(fields.errors)))
            continue
        if order_id in done:
            report.errors.append(
                (
                    line,
                    f"order {order_id}: its rows must be adjacent; "
                    "this row comes after the order was imported",
                )
            )
            continue
        if order_id not in pending and len(pending) >= chunk_size:
            done.update(pending)
            yield list(pending.values())
            pending = {}
        _add_row(pending, order_id, fields, line)
    yield list(pending.values())


def _add_row(pending: dict[str, _OrderDraft], order_id: str, fields: RowFields, line: int) -> None:
    draft = pending.get(order_id)
    if draft is None:
        record = _order(order_id, fields)
        draft = pending[order_id] = _OrderDraft(order_id, fields, record, line=line)
    else:
        _check_same_order(draft.first, fields)
    item = _line_item(fields)
    draft.rows += 1
    if fields.errors:
        draft.errors.append((line, f"{'; '.join(fields.errors)} (order {order_id} skipped)"))
    elif item is not None:
        draft.items.append(item)


def _order(order_id: str, f: RowFields) -> OrderRecord | None:
    """The order-level fields, read from the order's first row."""
    customer = CustomerRecord(
        external_id=f.identifier("customer_id", max_length=_max(Customer, "external_id")),
        email=f.email("email", required=True),
        first_name=f.text("first_name", max_length=_max(Customer, "first_name")),
        last_name=f.text("last_name", max_length=_max(Customer, "last_name")),
        time_zone=f.time_zone("time_zone"),
        accepts_marketing=f.boolean("accepts_marketing", default=True),
    )
    placed_at = f.moment("placed_at", required=True)
    stamps = {name: f.moment(name) for name in _STAMPS}
    status = f.text("status").lower()
    if status and status not in _STATUS_STAMP:
        f.errors.append(f"status: {status!r} is not one of {', '.join(_STATUS_STAMP)}")
    elif (stamp := _STATUS_STAMP.get(status)) and stamps[stamp] is None:
        stamps[stamp] = placed_at
    if f.errors or placed_at is None:
        return None
    return OrderRecord(
        external_id=order_id,
        customer=customer,
        placed_at=placed_at,
        total=f.decimal("total"),
        currency=f.currency("currency"),  # blank: the store's, set by _finish
        discount_codes=tuple(c.strip() for c in f.text("discount_codes").split(";") if c.strip()),
        paid_at=stamps["paid_at"],
        fulfilled_at=stamps["fulfilled_at"],
        delivered_at=stamps["delivered_at"],
        refunded_at=stamps["refunded_at"],
        cancelled_at=stamps["cancelled_at"],
    )


def _check_same_order(first: RowFields, row: RowFields) -> None:
    for name in ("customer_id", "email"):
        mine, theirs = row.text(name).lower(), first.text(name).lower()
        if mine != theirs:
            row.errors.append(f"{name}: {mine!r} contradicts {theirs!r} on the order's first row")


def _line_item(f: RowFields) -> LineItemRecord | None:
    product_id = f.identifier("product_id", max_length=_max(Product, "external_id"))
    quantity = f.integer("quantity", required=True)
    unit_price = f.decimal("unit_price", required=True)
    item = LineItemRecord(
        product_external_id=product_id,
        quantity=quantity or 0,
        unit_price=unit_price or Decimal(0),
        product_name=f.text("product_name", max_length=_max(Product, "name")),
        category=f.text("category", max_length=_max(Product, "category")),
    )
    if quantity is None or unit_price is None or not product_id:
        return None
    if problem := amount_problem(item.unit_price * item.quantity):
        f.errors.append(f"unit_price: quantity times unit price {problem}")
        return None
    return item


def _finish(draft: _OrderDraft, *, default_currency: str) -> OrderRecord:
    assert draft.record is not None
    currency = draft.record.currency or default_currency
    return dataclasses.replace(draft.record, line_items=tuple(draft.items), currency=currency)


def _total_problem(draft: _OrderDraft) -> str | None:
    """Why the lines of a blank-total order add up to more than an order total holds."""
    if draft.record is None or draft.record.total is not None:
        return None
    problem = amount_problem(lines_total(tuple(draft.items)))
    return problem and f"the order's lines add up to an amount that {problem} (order skipped)"


def _product_chunks(
    rows: Iterator[CsvRow], chunk_size: int, report: ImportReport
) -> Iterator[dict[str, ProductRecord]]:
    chunk: dict[str, ProductRecord] = {}
    for row in rows:
        report.rows_read += 1
        fields = RowFields(row.values, row.errors)
        record = _product(fields)
        if fields.errors or record is None:
            report.errors.append((row.line, "; ".join(fields.errors)))
            continue
        report.rows_imported += 1
        chunk[record.external_id] = record
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk


def _product(f: RowFields) -> ProductRecord | None:
    record = ProductRecord(
        external_id=f.identifier("product_id", max_length=_max(Product, "external_id")),
        name=f.text("name", required=True, max_length=_max(Product, "name")),
        category=f.text("category", max_length=_max(Product, "category")),
        department=f.text("department", max_length=_max(Product, "department")),
        brand=f.text("brand", max_length=_max(Product, "brand")),
        price=f.decimal("price"),
        # Stock may legitimately be negative (oversold), so it is not read as a count.
        stock=f.stock("stock"),
        image_url=f.url("image_url", max_length=_max(Product, "image_url")),
        url=f.url("url", max_length=_max(Product, "url")),
    )
    return None if f.errors else record

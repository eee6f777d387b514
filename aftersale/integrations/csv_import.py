"""Importing order history and the catalog from CSV files (columns: docs/csv-import.md).

Files are streamed: only one chunk of orders or products is held in memory at a time.
A bad line is reported with its line number and skipped; the good ones are kept. Every
value is checked against what its column can store (lib.bounds, the models' lengths)
before anything is written, so no value can fail the write of a whole chunk.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import zoneinfo
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from django.db.models import Field, Model

from aftersale.catalog.aliases import resolve_product_ids
from aftersale.catalog.models import Product
from aftersale.catalog.records import ProductRecord
from aftersale.catalog.services import product_ids
from aftersale.customers.models import Customer
from aftersale.customers.records import CustomerRecord
from aftersale.integrations.csv_fields import RowFields, amount
from aftersale.integrations.csv_formats import CsvFormat, detect_format
from aftersale.integrations.csv_source import CsvFormatError, CsvRow, read_rows
from aftersale.integrations.csv_staging import RowStage
from aftersale.integrations.services import receive_orders, receive_products
from aftersale.lib import bulk
from aftersale.lib.bounds import MAX_AMOUNT, MAX_QUANTITY, amount_problem
from aftersale.orders.models import LineItem, Order
from aftersale.orders.records import LineItemRecord, OrderRecord
from aftersale.orders.services import IngestMemo
from aftersale.stores.models import Store

ORDER_COLUMNS = ["order_id", "placed_at", "product_id", "quantity", "unit_price"]
# Besides ORDER_COLUMNS, a file names its customers by one of these (or both).
CUSTOMER_COLUMNS = ["customer_id", "email"]
PRODUCT_COLUMNS = ["product_id", "name"]
_STAMPS = ["paid_at", "fulfilled_at", "delivered_at", "refunded_at", "cancelled_at"]
_ORDER_READS = [
    *ORDER_COLUMNS,
    *CUSTOMER_COLUMNS,
    "first_name",
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
    "refunded_total",
]
# The fields a --columns mapping may name.
ORDER_FIELDS = frozenset(_ORDER_READS)
# Lines that are no product: postage, fees, manual adjustments, discounts, as the gift
# shop's export codes them (docs/csv-import.md). Their amounts count in the order's total;
# they never become products, so never recommendations.
NON_PRODUCT_CODES = frozenset(
    {
        "POST",
        "DOT",
        "M",
        "BANK CHARGES",
        "AMAZONFEE",
        "D",
        "C2",
        "CRUK",
        "S",
        "PADS",
        "B",
        "ADJUST",
        "ADJUST2",
    }
)
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

# Orders per receive_orders call: fewer, larger transactions cost fewer commits (1,000,000
# line items: 111 s at 5,000 against 120 s at 1,000, benchmarks/import.py's file). Each
# commit writes every index page its inserts touched to the WAL again: the orders' indexes
# by customer and by time take random keys, so a chunk touches most of their pages (333,000
# orders alone, as SQLite writes them on a loaded machine, CPU s: 7.9-8.3 at 5,000 a
# commit, 7.1 at 10,000, 5.4-6.3 at 20,000). 10,000 keeps the progress shown often and a
# chunk's drafts in memory small, and the write lock held a few seconds at most (others
# wait up to 30 s).
ORDER_CHUNK = 10_000
_RETURN_BATCH = 500  # customers whose returns are matched with one pair of queries
Row = dict[str | None, str | list[str] | None]
# Called after each chunk with the report so far (the caller may ask its file how far it read).
Progress = Callable[["ImportReport"], None]


@functools.cache
def _max(model: type[Model], name: str) -> int:
    """The length the column behind `model.name` holds (PostgreSQL enforces it)."""
    column = model._meta.get_field(name)
    assert isinstance(column, Field) and column.max_length is not None
    return column.max_length


def non_product_codes(store: Store) -> frozenset[str]:
    """The product codes of lines that are no product in `store`'s files: its own
    (Settings, `Store.non_product_codes`), else NON_PRODUCT_CODES."""
    own = frozenset(c.strip().upper() for c in store.non_product_codes.split(",") if c.strip())
    return own or NON_PRODUCT_CODES


@dataclass
class ImportReport:
    """What an import did. `imported` counts orders (or products); `errors` lists
    (line number, reason) for every line that was skipped. For orders, also: the format
    the file was read as, the rows skipped for naming no customer (no email, no customer
    id), the non-product lines (postage, fees) counted in their orders' totals, the
    cancellation lines and how many found the order they cancel, and how many orders were
    history (placed before `journeys_from`, so they started no journeys)."""

    kind: str
    rows_read: int = 0
    rows_imported: int = 0
    imported: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    format: str = ""
    without_customer: int = 0
    non_product_lines: int = 0
    cancellation_lines: int = 0
    cancellations_applied: int = 0
    journeys_from: dt.datetime | None = None
    history_orders: int = 0


@dataclass
class _OrderDraft:
    """The rows of one order seen so far."""

    order_id: str
    first: RowFields
    # The order's own fields (OrderRecord's, but its lines), read from its first row;
    # the record itself is made once, when the order is complete (_finish).
    head: dict[str, Any] | None
    items: list[LineItemRecord] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0
    line: int = 0
    # What the product lines add up to (lines_total of `items`, kept as they come).
    lines: Decimal = Decimal(0)
    # Amounts of lines that are no product (postage, fees) and of returned lines.
    extra: Decimal = Decimal(0)
    returned: Decimal = Decimal(0)
    # Returned lines as (line, product or "" for a non-product line, quantity, price).
    returns: list[tuple[int, str, int, Decimal]] = field(default_factory=list)
    cancellation: bool = False
    non_product_lines: int = 0


@dataclass(frozen=True)
class _Reading:
    """How the rows of one file are read."""

    format: CsvFormat
    zone: dt.tzinfo
    non_product: frozenset[str]


def import_orders_csv(
    *,
    store: Store,
    stream: TextIO,
    now: dt.datetime,
    chunk_size: int = ORDER_CHUNK,
    progress: Progress | None = None,
    columns: Mapping[str, str] | None = None,
    non_product: Collection[str] | None = None,
) -> ImportReport:
    """Import an orders CSV (one row per line item, in any order) through
    `receive_orders`, `chunk_size` orders at a time, as history: orders placed before
    `now` start no journeys. The file is read as the `columns` mapping says ({our field:
    its column}) or as the export its header identifies (csv_formats). The rows are put
    back together by order in a scratch file, so memory stays bounded. A line whose
    product id is one of `non_product` (default non_product_codes(store), case-insensitive) is
    no product: its amount counts in its order's total. Returned lines (a negative
    quantity) and cancelling invoices are refunds of the order they return: a line of its
    own order, else the customer's latest earlier order of that product. Rows naming no
    customer are counted and skipped; an order with any bad line is skipped whole and each
    bad line reported; a missing required column or a bad mapping raises CsvFormatError
    before anything is imported. Re-importing a file is harmless."""
    report = ImportReport(kind="orders", journeys_from=now)
    chosen: list[CsvFormat] = []
    renamed_header: list[str] = []

    def rename(names: list[str]) -> list[str]:
        chosen.append(detect_format(names, mapping=columns))
        renamed = chosen[0].rename(names)
        if not set(CUSTOMER_COLUMNS) & set(renamed):
            raise CsvFormatError(
                "missing required column(s): customer_id or email (either names the "
                f"customer); the file's columns are: {', '.join(names)}"
            )
        renamed_header.extend(renamed)
        return renamed

    rows = read_rows(stream, required=ORDER_COLUMNS, read=_ORDER_READS, rename=rename)
    first = next(rows, None)  # reads the header: a bad one raises before anything is written
    codes = non_product_codes(store) if non_product is None else non_product
    reading = _Reading(
        chosen[0],
        zoneinfo.ZoneInfo(store.time_zone or "UTC"),
        frozenset(c.strip().upper() for c in codes if c.strip()),
    )
    report.format = reading.format.name
    memo = IngestMemo()
    # A row's values are keyed by the renamed header's columns, each once.
    staged_columns = tuple(dict.fromkeys(renamed_header))
    with bulk.bulk_load(Order), RowStage(staged_columns) as orders, RowStage() as returns:
        for row in itertools.chain([first] if first else [], rows):
            _stage_row(row, reading, orders, report)
        grouped = _grouped_drafts(orders.grouped(), reading, report)
        for drafts in _chunks(grouped, chunk_size):
            _import_chunk(store, drafts, now, returns, report, memo)
            if progress:
                progress(report)
        _apply_returns(store, returns.grouped(), now, report)
    report.errors.sort()
    return report


def _stage_row(row: CsvRow, reading: _Reading, stage: RowStage, report: ImportReport) -> None:
    """Put `row` aside under its order id, or report why it names no order. Its values
    are kept as the file has them (the format adapts them when they are read back: the
    order id is none of what it changes)."""
    report.rows_read += 1
    longest = _max(Order, "external_id")
    raw = row.values.get("order_id") or ""
    # A plain id (most rows) is taken as it is; RowFields reads any other and says why.
    order_id = raw.strip() if raw.isascii() and raw.isprintable() else ""
    if not order_id or len(order_id) > longest:
        fields = RowFields(row.values, row.errors)
        # A line the csv module could not read has no values to name an order by.
        order_id = fields.identifier("order_id", max_length=longest) if row.values else ""
        if not order_id:
            report.errors.append((row.line, "; ".join(fields.errors)))
            return
    stage.add_values(order_id, row.line, row.values, row.errors)


def _grouped_drafts(
    staged: Iterator[tuple[str, int, Any]], reading: _Reading, report: ImportReport
) -> Iterator[_OrderDraft]:
    """The orders of the staged rows (sorted by order id), one draft each."""
    draft: _OrderDraft | None = None
    adapt = reading.format.adapt
    for order_id, line, (values, errors) in staged:
        if values and adapt is not None:
            adapt(values)
        fields = RowFields(values, errors, time_zone=reading.zone)
        if draft is not None and draft.order_id != order_id:
            yield draft
            draft = None
        if draft is None:
            head = _order(order_id, fields)
            if head and reading.format.record_id:
                # Grouped by one column (Shopify's Name), stored by the platform's id.
                shop_id = fields.text(
                    reading.format.record_id, max_length=_max(Order, "external_id")
                )
                head["external_id"] = shop_id or order_id
            draft = _OrderDraft(order_id, fields, head, line=line)
            prefix = reading.format.cancellation_prefix
            draft.cancellation = bool(prefix) and order_id.upper().startswith(prefix)
        else:
            _check_same_order(draft.first, fields, blanks_agree=reading.format.first_row_only)
        _add_line(draft, fields, line, reading, report)
    if draft is not None:
        yield draft


def _chunks(drafts: Iterator[_OrderDraft], size: int) -> Iterator[list[_OrderDraft]]:
    chunk: list[_OrderDraft] = []
    for draft in drafts:
        chunk.append(draft)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _import_chunk(
    store: Store,
    drafts: list[_OrderDraft],
    now: dt.datetime,
    returns: RowStage,
    report: ImportReport,
    memo: IngestMemo,
) -> None:
    good: list[_OrderDraft] = []
    for draft in drafts:
        if draft.head is not None and not draft.head["customer"].external_id:
            report.without_customer += draft.rows  # no email, no customer id: skipped
            continue
        if not draft.errors and (problem := _total_problem(draft)):
            draft.errors.append((draft.line, problem))
        report.errors += draft.errors
        if draft.errors or draft.head is None:
            report.skipped += 1
            continue
        if draft.cancellation or (draft.returns and not draft.items and not draft.extra):
            # An invoice cancelling earlier ones: its lines refund the orders they return.
            customer = draft.head["customer"].external_id
            for line, product, quantity, price in draft.returns:
                at = draft.head["placed_at"].isoformat()
                returns.add(customer, line, (product, quantity, str(price), at, draft.order_id))
            report.cancellation_lines += len(draft.returns)
            report.rows_imported += draft.rows
            continue
        good.append(draft)
    records = [_finish(d, default_currency=store.currency) for d in good]
    if records:
        result = receive_orders(store=store, records=records, now=now, journeys_from=now, memo=memo)
        report.created += len(result.created)
        report.updated += len(result.updated)
        report.unchanged += result.unchanged
        report.history_orders += sum(1 for r in records if r.placed_at < now)
    report.imported += len(records)
    report.rows_imported += sum(d.rows for d in good)
    report.non_product_lines += sum(d.non_product_lines for d in good)


def _order(order_id: str, f: RowFields) -> dict[str, Any] | None:
    """The order-level fields (OrderRecord's, as keywords), read from the order's first
    row; None when one is bad (the reasons are in `f.errors`)."""
    customer, problems = _customer(tuple(map(f.values.get, _CUSTOMER_READS)))
    f.errors += problems
    placed_at = f.moment("placed_at", required=True)
    stamps = {name: f.moment(name) if f.values.get(name) else None for name in _STAMPS}
    status = f.text("status").lower()
    if status and status not in _STATUS_STAMP:
        f.errors.append(f"status: {status!r} is not one of {', '.join(_STATUS_STAMP)}")
    elif (stamp := _STATUS_STAMP.get(status)) and stamps[stamp] is None:
        stamps[stamp] = placed_at
    if f.errors or placed_at is None:
        return None
    return {
        "external_id": order_id,
        "customer": customer,
        "placed_at": placed_at,
        "total": f.decimal("total"),
        "currency": f.currency("currency"),  # blank: the store's, set by _finish
        "discount_codes": tuple(
            c.strip() for c in f.text("discount_codes").split(";") if c.strip()
        ),
        "refunded_total": f.decimal("refunded_total"),
        **stamps,
    }


# The columns a customer is read from, and how many of their spellings are remembered.
_CUSTOMER_READS = (*CUSTOMER_COLUMNS, "first_name", "last_name", "time_zone", "accepts_marketing")
_CUSTOMERS_REMEMBERED = 50_000


@functools.lru_cache(maxsize=_CUSTOMERS_REMEMBERED)
def _customer(values: tuple[str | None, ...]) -> tuple[CustomerRecord, tuple[str, ...]]:
    """The customer the values of _CUSTOMER_READS name, and what is wrong with them. A
    customer comes back order after order in a history file, in the same spelling: each
    spelling is read once."""
    f = RowFields({k: v for k, v in zip(_CUSTOMER_READS, values, strict=True) if v is not None})
    email = f.email("email")
    customer_id = f.text("customer_id")
    if customer_id:
        customer_id = f.identifier("customer_id", max_length=_max(Customer, "external_id"))
    elif email:
        customer_id = f"email:{email}"
    customer = CustomerRecord(
        external_id=customer_id,
        email=email,
        first_name=f.text("first_name", max_length=_max(Customer, "first_name")),
        last_name=f.text("last_name", max_length=_max(Customer, "last_name")),
        time_zone=f.time_zone("time_zone"),
        accepts_marketing=f.boolean("accepts_marketing", default=True),
    )
    return customer, tuple(f.errors)


def _check_same_order(first: RowFields, row: RowFields, *, blanks_agree: bool) -> None:
    """A later row of an order names the customer its first row names (a blank one agrees
    in exports that give the order's values on its first row only)."""
    for name in CUSTOMER_COLUMNS:
        if row.values.get(name) == first.values.get(name):
            continue
        mine, theirs = row.text(name).lower(), first.text(name).lower()
        if mine != theirs and not (blanks_agree and not mine):
            row.errors.append(f"{name}: {mine!r} contradicts {theirs!r} on the order's first row")


def _add_line(
    draft: _OrderDraft, f: RowFields, line: int, reading: _Reading, report: ImportReport
) -> None:
    """Read one row's line into `draft`: a product line, a non-product line (its amount
    counted in the total) or a returned line (a negative quantity)."""
    draft.rows += 1
    quantity: int | None
    unit_price: Decimal | None
    plain = None if f.errors else _plain_line(f.values)
    if plain is not None:
        product_id, quantity, unit_price, name, category = plain
    else:
        product_id = f.identifier("product_id", max_length=_max(Product, "external_id"))
        quantity = f.signed_integer("quantity", required=True)
        unit_price = f.decimal("unit_price", required=True)
        name = f.text("product_name", max_length=_max(Product, "name"))
        category = f.text("category", max_length=_max(Product, "category"))
        known = quantity is not None and unit_price is not None and product_id
        if known and (problem := amount_problem((unit_price or Decimal(0)) * abs(quantity or 0))):
            f.errors.append(f"unit_price: quantity times unit price {problem}")
        if f.errors or quantity is None or unit_price is None or not product_id:
            draft.errors.append(
                (line, f"{'; '.join(f.errors)} (order {draft.order_id} skipped)".lstrip("; "))
            )
            return
    non_product = product_id.upper() in reading.non_product
    if quantity < 0 or draft.cancellation:
        draft.returns.append((line, "" if non_product else product_id, abs(quantity), unit_price))
        draft.returned += unit_price * abs(quantity)
    elif non_product:
        draft.non_product_lines += 1
        draft.extra += unit_price * quantity
    else:
        draft.items.append(LineItemRecord(product_id, quantity, unit_price, name, category))
        draft.lines += unit_price * quantity


def _plain_line(values: Mapping[str, str]) -> tuple[str, int, Decimal, str, str] | None:
    """The line's product id, quantity, unit price, product name and category when each
    is plain (printable ASCII, within its column, a whole quantity and an amount in
    range): what RowFields would read, read without a call per value (most lines of a
    history file). None when any is not: RowFields then reads the line and says why."""
    product_id = values.get("product_id") or ""
    quantity = values.get("quantity") or ""
    price = values.get("unit_price") or ""
    name = values.get("product_name") or ""
    category = values.get("category") or ""
    joined = product_id + quantity + price + name + category
    if not (joined.isascii() and joined.isprintable()):
        return None
    product_id, name, category = product_id.strip(), name.strip(), category.strip()
    lengths = _line_lengths()
    if not product_id or len(product_id) > lengths[0]:
        return None
    if len(name) > lengths[1] or len(category) > lengths[2]:
        return None
    try:
        count = int(quantity)
    except ValueError:
        return None
    unit_price, _ = amount(price.strip())
    if unit_price is None or not -MAX_QUANTITY <= count <= MAX_QUANTITY:
        return None
    if unit_price * abs(count) > MAX_AMOUNT:
        return None
    return product_id, count, unit_price, name, category


@functools.cache
def _line_lengths() -> tuple[int, int, int]:
    return _max(Product, "external_id"), _max(Product, "name"), _max(Product, "category")


def _finish(draft: _OrderDraft, *, default_currency: str) -> OrderRecord:
    """The order of `draft`: its product lines, its total (as given, else its product
    and non-product lines), what its own returned lines refunded."""
    assert draft.head is not None
    head = draft.head
    items = tuple(draft.items)
    total = head["total"] if head["total"] is not None else draft.lines + draft.extra
    refunded = max(head["refunded_total"] or Decimal(0), min(draft.returned, total))
    return OrderRecord(
        **{
            **head,
            "line_items": items,
            "currency": head["currency"] or default_currency,
            "total": max(total, Decimal(0)),
            "refunded_total": refunded or head["refunded_total"],
        }
    )


def _apply_returns(
    store: Store, staged: Iterator[tuple[str, int, Any]], now: dt.datetime, report: ImportReport
) -> None:
    """Refund each cancelling line (grouped by customer) from the order it returns: the
    customer's latest order placed at or before it holding that product (any of their
    orders for a non-product line). An order's refunded total becomes what its returns
    add up to (never lowered, at most its total; refunded when it reaches the total), so
    importing the file again changes nothing."""
    batch: dict[str, list[tuple[str, int, Decimal, dt.datetime]]] = {}
    for customer, _, (product, quantity, price, at, _order_id) in staged:
        batch.setdefault(customer, []).append(
            (product, quantity, Decimal(price), dt.datetime.fromisoformat(at))
        )
        if len(batch) >= _RETURN_BATCH:
            _refund_batch(store, batch, now, report)
            batch = {}
    if batch:
        _refund_batch(store, batch, now, report)


def _refund_batch(
    store: Store,
    batch: dict[str, list[tuple[str, int, Decimal, dt.datetime]]],
    now: dt.datetime,
    report: ImportReport,
) -> None:
    orders: dict[str, list[tuple[dt.datetime, str]]] = {}
    stored: dict[str, tuple[dt.datetime, Decimal, Decimal]] = {}
    for external_id, placed_at, customer, total, refunded in Order.objects.filter(
        store=store, customer__external_id__in=list(batch)
    ).values_list("external_id", "placed_at", "customer__external_id", "total", "refunded_total"):
        orders.setdefault(customer, []).append((placed_at, external_id))
        stored[external_id] = (placed_at, total, refunded)
    holding: set[tuple[str, int]] = set(
        LineItem.objects.filter(store=store, order__customer__external_id__in=list(batch))
        .values_list("order__external_id", "product_id")
        .distinct()
    )
    products = _returned_products(store, batch)
    refunds: dict[str, tuple[Decimal, dt.datetime]] = {}
    for customer, lines in batch.items():
        candidates = sorted(orders.get(customer, []), reverse=True)
        for product, quantity, price, at in lines:
            match = next(
                (
                    order
                    for placed_at, order in candidates
                    if placed_at <= at
                    and (not product or (order, products.get(product)) in holding)
                ),
                None,
            )
            if match is None:
                continue
            report.cancellations_applied += 1
            amount, latest = refunds.get(match, (Decimal(0), at))
            refunds[match] = (amount + price * quantity, max(latest, at))
    records = []
    for external_id, (amount, at) in refunds.items():
        placed_at, total, refunded = stored[external_id]
        amount = min(amount, total)
        if amount > refunded:
            records.append(
                OrderRecord(
                    external_id=external_id,
                    customer=CustomerRecord(external_id="", email=""),
                    placed_at=placed_at,
                    refunded_total=amount,
                    refunded_at=at if amount >= total else None,
                )
            )
    if records:
        receive_orders(store=store, records=records, now=now, journeys_from=now)


def _returned_products(
    store: Store, batch: dict[str, list[tuple[str, int, Decimal, dt.datetime]]]
) -> dict[str, int]:
    """The products the returned lines of `batch` name, by the key the file gives (a
    product id, or a SKU of a catalog product: catalog.aliases)."""
    keys = {product for lines in batch.values() for product, *_ in lines if product}
    return resolve_product_ids(store=store, keys=keys)


def _total_problem(draft: _OrderDraft) -> str | None:
    """Why the lines of a blank-total order add up to more than an order total holds."""
    if draft.head is None or draft.head["total"] is not None:
        return None
    problem = amount_problem(draft.lines + abs(draft.extra))
    return problem and f"the order's lines add up to an amount that {problem} (order skipped)"


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

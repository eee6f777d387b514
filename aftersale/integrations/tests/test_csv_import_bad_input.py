"""Generated mixed CSV files (good rows among out-of-range numbers, overflowing dates, huge
cells, control characters, bytes that do not decode, blank ids, missing and extra values,
quotes that never close), imported in UTF-8, UTF-8 with a BOM and UTF-16: no exception
escapes, each bad line is reported with its number and reason, each good row is stored
exactly, nothing of a bad row (or of an order with a bad line) is stored."""

import codecs
import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.integrations.csv_import import import_orders_csv, import_products_csv
from aftersale.integrations.csv_source import open_csv
from aftersale.lib.bounds import MAX_AMOUNT, MAX_QUANTITY, MAX_STOCK, MIN_STOCK
from aftersale.lib.text import single_line_text
from aftersale.orders.models import LineItem, Order
from aftersale.stores.services import create_store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
ORDER_COLUMNS = [
    "order_id",
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "placed_at",
    "time_zone",
    "currency",
    "total",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
]
PRODUCT_COLUMNS = [
    "product_id",
    "note",
    "name",
    "category",
    "department",
    "brand",
    "price",
    "stock",
    "url",
    "image_url",
]
# Where a byte that does not decode goes: encoded, this character is swapped for it.
UNDECODABLE = "\ue000"
# Per encoding: its byte-order mark, codec, and the bytes that replace UNDECODABLE (for
# UTF-16 a lone surrogate, which keeps the following characters aligned).
ENCODINGS = {
    "utf-8": (b"", "utf-8", b"\xe9"),
    "utf-8-sig": (codecs.BOM_UTF8, "utf-8", b"\xff"),
    "utf-16": (codecs.BOM_UTF16_LE, "utf-16-le", b"\x00\xd8"),
}
FIELD_LIMIT = csv.field_size_limit()
CONTROLS = ["\x00", "\x01", "\x0b", "\x1b", "\x7f", "\x85", "\ufffe", "\u2028", "\x0c"]
UNCLOSED = ("quote", "line break")

settings_for_files = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

names = st.text(
    # Never the stand-in for an undecodable byte: a good line must stay good.
    st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
        blacklist_characters=UNDECODABLE,
        max_codepoint=0x1F9FF,
    ),
    max_size=20,
).map(lambda text: f"N{text}")
with_controls = st.tuples(names, st.lists(st.sampled_from(CONTROLS), min_size=1, max_size=3)).map(
    lambda pair: pair[0][:1] + "".join(pair[1]) + pair[0][1:]
)
any_name = st.one_of(names, with_controls)
amounts = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2)
moments = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2199, 12, 30)
).flatmap(
    lambda moment: st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]
    ).map(lambda zone: moment.replace(tzinfo=zone))
)
blank_ids = st.sampled_from(["", " ", "   ", "\u3000", "\u00a0"])
too_large_amounts = st.one_of(
    st.decimals(min_value=MAX_AMOUNT + Decimal("0.01"), max_value=Decimal("1e30"), places=2).map(
        str
    ),
    st.sampled_from(["1e999999", "NaN", "-Infinity", "sNaN", "-0.01", "12345678901234.5"]),
)
bad_quantities = st.one_of(
    st.integers(MAX_QUANTITY + 1, 2**100),
    st.integers(-(2**100), -MAX_QUANTITY - 1),
    st.just("1.5"),
).map(str)
bad_stock = st.one_of(st.integers(MAX_STOCK + 1, 2**100), st.integers(-(2**100), MIN_STOCK - 1))
bad_moments = st.one_of(
    st.sampled_from(["9999-12-31T23:00-14:00", "0001-01-01T01:00+14:00", "yesterday"]),
    st.datetimes(max_value=dt.datetime(1969, 12, 30)).map(dt.datetime.isoformat),
    st.datetimes(min_value=dt.datetime(2200, 1, 2)).map(dt.datetime.isoformat),
)


@dataclass
class Line:
    """One line of a generated file: its cells, how it is written, and, for a bad line,
    the words one of which its reported reason must hold."""

    cells: dict[str, str]
    reasons: tuple[str, ...] = ()
    raw: Callable[[dict[str, str]], str] | None = None
    extra: str = ""

    def text(self, columns: list[str]) -> str:
        if self.raw is not None:
            return self.raw(self.cells)
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([self.cells.get(c, "") for c in columns])
        return out.getvalue() + self.extra


@dataclass
class Case:
    lines: list[Line] = field(default_factory=list)


def _unclosed(columns: list[str], column: str) -> Callable[[dict[str, str]], str]:
    """A line whose `column` opens a quote it never closes."""

    def write(cells: dict[str, str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(
            [cells.get(c, "") if c != column else "@@" for c in columns]
        )
        return out.getvalue().replace("@@", '"' + cells[column].replace('"', ""))

    return write


def _truncated(columns: list[str], keep: int) -> Callable[[dict[str, str]], str]:
    def write(cells: dict[str, str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([cells[c] for c in columns[:keep]])
        return out.getvalue()

    return write


def _bad_line(draw: st.DrawFn, cells: dict[str, str], columns: list[str], kinds: dict) -> Line:
    kind = draw(st.sampled_from(sorted(kinds)))
    return kinds[kind](draw, cells, columns)


def _set(column: str, values: st.SearchStrategy, *reasons: str) -> Callable:
    def make(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
        return Line({**cells, column: str(draw(values))}, reasons or (f"{column}:",))

    return make


def _control_in(column: str) -> Callable:
    def make(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
        bad = cells[column][:1] + draw(st.sampled_from(CONTROLS)) + cells[column][1:]
        return Line({**cells, column: bad}, (f"{column}: ", "holds a control character"))

    return make


def _undecodable_in(column: str) -> Callable:
    def make(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
        return Line({**cells, column: f"ab{UNDECODABLE}cd"}, ("cannot be decoded",))

    return make


def _huge(column: str) -> Callable:
    def make(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
        size = draw(st.integers(FIELD_LIMIT + 1, FIELD_LIMIT + 5000))
        return Line({**cells, column: "x" * size}, (f"longer than {FIELD_LIMIT}",))

    return make


def _overlong(column: str, limit: int) -> Callable:
    def make(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
        size = draw(st.integers(limit + 1, limit + 3000))
        return Line({**cells, column: "y" * size}, (f"longer than the {limit} allowed",))

    return make


def _quote_in(*candidates: str) -> Callable:
    def make(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
        column = draw(st.sampled_from(candidates))
        return Line(cells, UNCLOSED, raw=_unclosed(columns, column))

    return make


def _extra(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
    return Line(cells, ("more values than there are columns",), extra=",x,y")


def _missing(most: int) -> Callable:
    """A line with only its first 1 to `most` values (a required one left out)."""

    def make(draw: st.DrawFn, cells: dict[str, str], columns: list[str]) -> Line:
        keep = draw(st.integers(1, most))
        return Line(cells, ("a value is required",), raw=_truncated(columns, keep))

    return make


# Kinds of bad line that keep the order's id readable, so they skip their whole order.
ORDER_LINE_KINDS = {
    "quantity": _set("quantity", bad_quantities),
    "unit_price": _set("unit_price", too_large_amounts),
    "product id control": _control_in("product_id"),
    "product id blank": _set("product_id", blank_ids, "product_id: a value is required"),
    "product name overlong": _overlong("product_name", 300),
    "undecodable": _undecodable_in("product_name"),
    "extra values": _extra,
}
ORDER_KINDS = {
    **ORDER_LINE_KINDS,
    "placed_at": _set("placed_at", bad_moments),
    "total": _set("total", too_large_amounts),
    "order id control": _control_in("order_id"),
    "customer id control": _control_in("customer_id"),
    "order id blank": _set("order_id", blank_ids, "order_id: a value is required"),
    "first name overlong": _overlong("first_name", 100),
    "order id overlong": _overlong("order_id", 100),
    "huge cell": _huge("product_name"),
    "unclosed quote": _quote_in("order_id", "first_name", "product_name", "unit_price"),
    "missing values": _missing(len(ORDER_COLUMNS) - 1),
}
PRODUCT_KINDS = {
    "stock": _set("stock", bad_stock),
    "price": _set("price", too_large_amounts),
    "id control": _control_in("product_id"),
    "id blank": _set("product_id", blank_ids, "product_id: a value is required"),
    "id overlong": _overlong("product_id", 100),
    "name overlong": _overlong("name", 300),
    "brand overlong": _overlong("brand", 200),
    "url": _set("url", st.sampled_from(["javascript:alert(1)", "data:text/html,x", "ftp://a"])),
    "undecodable": _undecodable_in("name"),
    "huge cell": _huge("category"),
    "unclosed quote": _quote_in("product_id", "name", "price", "image_url"),
    "extra values": _extra,
    "missing values": _missing(PRODUCT_COLUMNS.index("name")),
}
ITEM_COLUMNS = ["product_id", "product_name", "quantity", "unit_price"]


@st.composite
def order_cells(draw: st.DrawFn, n: int, line: int = 0) -> dict[str, str]:
    return {
        "order_id": f"o{n}",
        "customer_id": f"c{n}",
        "email": f"c{n}@example.com",
        "first_name": draw(st.one_of(st.just(""), any_name)),
        "last_name": draw(any_name),
        "placed_at": draw(moments).isoformat(),
        "time_zone": draw(st.sampled_from(["", "Europe/Paris", "Pacific/Kiritimati"])),
        "currency": draw(st.sampled_from(["", "EUR", "JPY"])),
        "total": draw(st.one_of(st.just(""), amounts.map(str))),
        "product_id": f"p{n}-{line}",
        "product_name": draw(st.one_of(st.just(""), any_name)),
        "quantity": str(draw(st.integers(0, 1000))),
        "unit_price": str(draw(amounts)),
    }


@st.composite
def order_files(draw: st.DrawFn) -> tuple[str, list[list[Line]]]:
    """Orders of one or two lines; some single bad lines, some good orders with a bad line."""
    orders: list[list[Line]] = []
    for n in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["good", "good", "bad", "bad line"]))
        first = Line(draw(order_cells(n)))
        if kind == "bad":
            orders.append([_bad_line(draw, first.cells, ORDER_COLUMNS, ORDER_KINDS)])
            continue
        lines = [first]
        if draw(st.booleans()) or kind == "bad line":
            item = draw(order_cells(n, 1))
            lines.append(Line({**first.cells, **{c: item[c] for c in ITEM_COLUMNS}}))
        if kind == "bad line":
            lines[1] = _bad_line(draw, lines[1].cells, ORDER_COLUMNS, ORDER_LINE_KINDS)
        orders.append(lines)
    return draw(st.sampled_from(sorted(ENCODINGS))), orders


@st.composite
def product_files(draw: st.DrawFn) -> tuple[str, list[Line]]:
    lines = []
    for n in range(draw(st.integers(1, 10))):
        cells = {
            "product_id": f"p{n}",
            "note": draw(st.sampled_from(["", "a, b", 'say "hi"'])),
            "name": draw(any_name),
            "category": draw(st.one_of(st.just(""), any_name)),
            "department": draw(st.one_of(st.just(""), any_name)),
            "brand": draw(st.one_of(st.just(""), any_name)),
            "price": draw(st.one_of(st.just(""), amounts.map(str))),
            "stock": draw(st.one_of(st.just(""), st.integers(MIN_STOCK, MAX_STOCK).map(str))),
            "url": draw(st.sampled_from(["", f"https://shop.example.com/p/{n}"])),
            "image_url": draw(st.sampled_from(["", f"http://img.example.com/{n}.png"])),
        }
        good = draw(st.booleans())
        lines.append(
            Line(cells) if good else _bad_line(draw, cells, PRODUCT_COLUMNS, PRODUCT_KINDS)
        )
    return draw(st.sampled_from(sorted(ENCODINGS))), lines


def _file(encoding: str, columns: list[str], lines: list[Line]) -> io.BytesIO:
    text = "\n".join([",".join(columns), *(line.text(columns) for line in lines)]) + "\n"
    bom, codec, bad = ENCODINGS[encoding]
    return io.BytesIO(bom + bad.join(part.encode(codec) for part in text.split(UNDECODABLE)))


def _assert_reported(errors: list[tuple[int, str]], lines: list[Line]) -> None:
    expected = {number: line.reasons for number, line in enumerate(lines, start=2) if line.reasons}
    assert [number for number, _ in errors] == sorted(expected), errors
    for number, reason in errors:
        assert any(word in reason for word in expected[number]), (number, reason)


@settings_for_files
@given(file=order_files())
def test_a_mixed_orders_file_keeps_every_good_order_exactly_and_reports_every_bad_line(db, file):
    encoding, orders = file
    with transaction.atomic():
        store = create_store(
            physical_address="2 Test Lane, Springfield, USA",
            name="Bad input",
            slug="bad-input",
            now=T0,
        )
        report = import_orders_csv(
            store=store,
            stream=open_csv(
                _file(encoding, ORDER_COLUMNS, [line for order in orders for line in order])
            ),
            now=T0,
        )

        _assert_reported(report.errors, [line for order in orders for line in order])
        good = [order for order in orders if not any(line.reasons for line in order)]
        _assert_stored_orders(store, good)
        transaction.set_rollback(True)


def _assert_stored_orders(store, good: list[list[Line]]) -> None:
    stored = {
        o.external_id: o for o in Order.objects.filter(store=store).select_related("customer")
    }
    assert set(stored) == {order[0].cells["order_id"] for order in good}
    customers = {c.external_id: c for c in Customer.objects.filter(store=store)}
    assert set(customers) == {order[0].cells["customer_id"] for order in good}
    products = dict(Product.objects.filter(store=store).values_list("external_id", "name"))
    assert set(products) == {line.cells["product_id"] for order in good for line in order}
    for order in good:
        first = order[0].cells
        placed = stored[first["order_id"]]
        lines_total = sum(Decimal(i.cells["unit_price"]) * int(i.cells["quantity"]) for i in order)
        assert placed.placed_at == dt.datetime.fromisoformat(first["placed_at"])
        assert placed.total == (Decimal(first["total"]) if first["total"] else lines_total)
        assert placed.currency == (first["currency"] or "USD")
        customer = customers[first["customer_id"]]
        assert (customer.email, customer.first_name, customer.last_name, customer.time_zone) == (
            first["email"],
            single_line_text(first["first_name"]),
            single_line_text(first["last_name"]),
            first["time_zone"],
        )
        items = LineItem.objects.filter(order=placed).values_list(
            "product__external_id", "quantity", "unit_price"
        )
        assert sorted(items) == sorted(
            (i.cells["product_id"], int(i.cells["quantity"]), Decimal(i.cells["unit_price"]))
            for i in order
        )
        for line in order:
            name = single_line_text(line.cells["product_name"])
            assert products[line.cells["product_id"]] == (
                name or f"Product {line.cells['product_id']}"
            )


@settings_for_files
@given(file=product_files())
def test_a_mixed_products_file_keeps_every_good_product_exactly_and_reports_every_bad_line(
    db, file
):
    encoding, lines = file
    with transaction.atomic():
        store = create_store(
            physical_address="2 Test Lane, Springfield, USA",
            name="Bad input",
            slug="bad-input",
            now=T0,
        )
        report = import_products_csv(
            store=store, stream=open_csv(_file(encoding, PRODUCT_COLUMNS, lines))
        )

        _assert_reported(report.errors, lines)
        good = {line.cells["product_id"]: line.cells for line in lines if not line.reasons}
        stored = {p.external_id: p for p in Product.objects.filter(store=store)}
        assert set(stored) == set(good)
        for external_id, cells in good.items():
            product = stored[external_id]
            assert (product.name, product.category, product.department, product.brand) == tuple(
                single_line_text(cells[c]) for c in ("name", "category", "department", "brand")
            )
            assert product.price == Decimal(cells["price"] or 0)
            assert product.stock == (int(cells["stock"]) if cells["stock"] else None)
            assert (product.url, product.image_url) == (cells["url"], cells["image_url"])
        transaction.set_rollback(True)

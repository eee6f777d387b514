"""Specification of CSV import: good rows kept, bad lines reported by number, streamed."""

import datetime as dt
import io
from decimal import Decimal

import pytest

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.integrations.csv_import import import_orders_csv, import_products_csv
from aftersale.integrations.csv_source import CsvFormatError
from aftersale.orders.models import LineItem, Order, OrderStatus

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
HEADER = (
    "order_id,customer_id,email,first_name,placed_at,product_id,product_name,"
    "quantity,unit_price,status,delivered_at,discount_codes,time_zone\n"
)


def _orders(*rows: str, chunk_size: int = 1000, store=None):
    stream = io.StringIO(HEADER + "".join(f"{row}\n" for row in rows))
    return import_orders_csv(store=store, stream=stream, now=T0, chunk_size=chunk_size)


def test_rows_of_one_order_become_one_order_with_its_line_items(store):
    report = _orders(
        "1001,c1,Ada@Example.com,Ada,2024-03-01T10:00:00,p1,Mug,2,9.99,,,WELCOME10;VIP,",
        "1001,c1,ada@example.com,Ada,2024-03-01T10:00:00,p2,Tea,1,20,,,,",
        store=store,
    )

    assert (report.rows_imported, report.imported, report.created, report.errors) == (2, 1, 1, [])
    order = Order.objects.get(store=store, external_id="1001")
    assert order.placed_at == dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    assert order.total == Decimal("39.98")
    assert order.discount_codes == ["WELCOME10", "VIP"]
    assert order.customer.email == "ada@example.com"
    assert order.line_items.count() == 2


def test_a_status_column_sets_the_status_and_its_timestamps(store):
    _orders(
        "1,c1,a@example.com,A,2024-03-01T10:00:00+01:00,p1,,1,5,delivered,"
        "2024-03-03T12:00:00Z,,Europe/Paris",
        "2,c1,a@example.com,A,2024-03-01,p1,,1,5,cancelled,,,",
        store=store,
    )

    delivered, cancelled = Order.objects.order_by("external_id")
    assert delivered.status == OrderStatus.DELIVERED
    assert delivered.delivered_at == dt.datetime(2024, 3, 3, 12, tzinfo=dt.UTC)
    assert delivered.placed_at == dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC)
    assert (cancelled.status, cancelled.cancelled_at) == (
        OrderStatus.CANCELLED,
        cancelled.placed_at,
    )
    assert Customer.objects.get(store=store).time_zone == "Europe/Paris"


def test_each_bad_line_is_reported_with_its_number_and_good_orders_are_kept(store):
    report = _orders(
        "1,c1,a@example.com,A,2024-03-01,p1,,1,5,,,,",  # line 2: good
        "2,c2,not-an-email,B,2024-03-01,p1,,1,5,,,,",  # line 3: bad email
        "3,c3,c@example.com,C,yesterday,p1,,1,5,,,,",  # line 4: bad date
        "4,c4,d@example.com,D,2024-03-01,p1,,2.5,5,,,,",  # line 5: not a whole quantity
        "5,c5,e@example.com,E,2024-03-01,p1,,1,five,,,,",  # line 6: bad number
        "6,c6,f@example.com,F,,p1,,1,5,,,,",  # line 7: missing value
        "7,c7,g@example.com,G,2024-03-01,p1,,1,5,,,,",  # line 8: good
        store=store,
    )

    assert [line for line, _ in report.errors] == [3, 4, 5, 6, 7]
    reasons = dict(report.errors)
    assert "email" in reasons[3]
    assert "placed_at" in reasons[4]
    assert "quantity" in reasons[5]
    assert "unit_price" in reasons[6]
    assert "placed_at: a value is required" in reasons[7]
    assert (report.imported, report.skipped, report.rows_read) == (2, 5, 7)
    assert set(Order.objects.values_list("external_id", flat=True)) == {"1", "7"}


def test_an_order_with_one_bad_line_is_skipped_whole(store):
    report = _orders(
        "1,c1,a@example.com,A,2024-03-01,p1,,1,5,,,,",
        "1,c1,a@example.com,A,2024-03-01,p2,,x,5,,,,",
        "1,c1,a@example.com,A,2024-03-01,p3,,1,5,,,,",
        store=store,
    )

    assert [line for line, _ in report.errors] == [3]
    assert "order 1 skipped" in report.errors[0][1]
    assert not Order.objects.exists()
    assert not LineItem.objects.exists()


def test_a_row_whose_customer_contradicts_its_order_is_reported(store):
    report = _orders(
        "1,c1,a@example.com,A,2024-03-01,p1,,1,5,,,,",
        "1,c2,b@example.com,A,2024-03-01,p2,,1,5,,,,",
        store=store,
    )

    assert [line for line, _ in report.errors] == [3]
    assert "customer_id" in report.errors[0][1] and "email" in report.errors[0][1]
    assert not Order.objects.exists()


def test_a_missing_required_column_is_an_error_before_anything_is_imported(store):
    stream = io.StringIO("order_id,customer_id,first_name,product_id,quantity\n1,c1,A,p1,1\n")

    columns = "placed_at, unit_price; the file's columns are: order_id, customer_id"
    with pytest.raises(CsvFormatError, match=columns):
        import_orders_csv(store=store, stream=stream, now=T0)

    assert not Order.objects.exists()


def test_a_large_file_is_imported_in_chunks_with_the_same_result(store):
    rows = [
        f"{n // 2},c{n // 14},c{n // 14}@example.com,X,2024-03-01,p{n % 5},,1,2.50,,,,"
        for n in range(250)
    ]
    chunks: list[int] = []

    stream = io.StringIO(HEADER + "\n".join(rows) + "\n")
    report = import_orders_csv(
        store=store, stream=stream, now=T0, chunk_size=10, progress=lambda _: chunks.append(1)
    )

    assert len(chunks) == 13
    assert (report.imported, report.created, report.rows_imported) == (125, 125, 250)
    assert LineItem.objects.filter(store=store).count() == 250


def test_importing_the_same_file_twice_changes_nothing(store):
    rows = [
        "1,c1,a@example.com,A,2024-03-01,p1,,1,5,,,,",
        "2,c1,a@example.com,A,2024-03-02,p1,,1,5,delivered,,,",
    ]
    _orders(*rows, store=store)

    report = _orders(*rows, store=store)

    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert LineItem.objects.count() == 2


def test_rows_of_an_order_need_not_be_adjacent_and_make_one_whole_order(store):
    report = _orders(
        "1,c1,a@example.com,A,2024-03-01,p1,,1,5,,,,",
        "2,c1,a@example.com,A,2024-03-01,p1,,1,5,,,,",
        "1,c1,a@example.com,A,2024-03-01,p2,,1,5,,,,",
        chunk_size=1,
        store=store,
    )

    assert (report.errors, report.imported, report.rows_imported) == ([], 2, 3)
    order = Order.objects.get(external_id="1")
    assert sorted(order.line_items.values_list("product__external_id", flat=True)) == ["p1", "p2"]
    assert order.total == Decimal("10.00")


def test_products_are_created_and_updated_and_bad_rows_reported(store):
    csv_text = (
        "product_id,name,category,department,brand,price,stock,image_url,url\n"
        "p1,Mug,Kitchen,Home,Acme,9.50,3,https://img.example.com/p1.png,"
        "https://shop.example.com/p1\n"
        "p2,Tea,,,,abc,,,\n"
        "p3,,,,,1,,,\n"
        "p4,Pot,,,,1,,ftp://nope,\n"
    )

    report = import_products_csv(store=store, stream=io.StringIO(csv_text))

    assert [line for line, _ in report.errors] == [3, 4, 5]
    assert (report.imported, report.created) == (1, 1)
    product = Product.objects.get(store=store)
    assert (product.name, product.price, product.stock) == ("Mug", Decimal("9.50"), 3)

    again = import_products_csv(store=store, stream=io.StringIO(csv_text))
    assert (again.created, again.updated) == (0, 1)


def test_a_currency_that_is_not_iso_4217_is_reported_and_the_other_orders_kept(store):
    stream = io.StringIO(
        "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price,currency\n"
        "1,c1,a@example.com,A,2024-03-01,p1,1,5,EUR\n"
        "2,c2,b@example.com,B,2024-03-01,p1,1,5,XYZ\n"
    )

    report = import_orders_csv(store=store, stream=stream, now=T0)

    assert [line for line, _ in report.errors] == [3]
    assert "currency: 'XYZ' is not an ISO 4217 currency code" in report.errors[0][1]
    assert list(Order.objects.values_list("external_id", "currency")) == [("1", "EUR")]


def test_an_order_without_a_currency_is_in_the_stores(store):
    store.currency = "JPY"
    store.save(update_fields=["currency"])
    stream = io.StringIO(
        "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price,currency\n"
        "1,c1,a@example.com,A,2024-03-01,p1,1,500,\n"
        "2,c2,b@example.com,B,2024-03-01,p1,1,5,EUR\n"
    )

    import_orders_csv(store=store, stream=stream, now=T0)

    assert dict(Order.objects.values_list("external_id", "currency")) == {"1": "JPY", "2": "EUR"}


ITEMS_HEADER = "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price"


def _item_row(n: int, **changes: str) -> str:
    """A good row of ITEMS_HEADER for order n, with `changes` to its columns."""
    values = {
        "order_id": str(n),
        "customer_id": f"c{n}",
        "email": f"c{n}@example.com",
        "first_name": "C",
        "placed_at": "2024-03-01",
        "product_id": f"p{n}",
        "quantity": "1",
        "unit_price": "5",
    }
    return ",".join({**values, **changes}.values())


def _order_file(rows: list[str], header: str = ITEMS_HEADER) -> io.StringIO:
    return io.StringIO(header + "\n" + "\n".join(rows) + "\n")


def test_a_1500_order_file_with_an_out_of_range_quantity_on_order_10_keeps_the_1499_others(
    store,
):
    rows = [f"{n},c{n},c{n}@example.com,C,2024-03-01,p1,1,5" for n in range(1, 1501)]
    rows[9] = "10,c10,c10@example.com,C,2024-03-01,p1,9223372036854775808,5"

    report = import_orders_csv(store=store, stream=_order_file(rows), now=T0)

    assert [line for line, _ in report.errors] == [11]
    assert "quantity: '9223372036854775808' must lie between -1000000 and" in report.errors[0][1]
    assert (report.imported, report.skipped) == (1499, 1)
    assert Order.objects.filter(store=store).count() == 1499
    assert not Order.objects.filter(external_id="10").exists()


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("quantity", "9223372036854775808", "quantity: '9223372036854775808' must lie between"),
        ("unit_price", "12345678901234.50", "unit_price: '12345678901234.50' must be at most"),
        ("unit_price", "1e999999", "unit_price: '1e999999' must be at most"),
        ("unit_price", "sNaN", "unit_price: 'sNaN' not a number"),
        ("total", "10000000000", "total: '10000000000' must be at most"),
        ("placed_at", "9999-12-31T23:00-14:00", "placed_at: '9999-12-31T23:00-14:00' must lie"),
        ("placed_at", "0001-01-01T01:00+14:00", "placed_at: '0001-01-01T01:00+14:00' must lie"),
        ("delivered_at", "9999-12-31T23:59:59-12:00", "delivered_at: '9999-12-31T23:59:59-12"),
        ("order_id", "o" * 101, "order_id: 101 characters is longer than the 100 allowed"),
        ("customer_id", "c" * 101, "customer_id: 101 characters is longer than the 100"),
        ("product_id", "p" * 101, "product_id: 101 characters is longer than the 100"),
        ("first_name", "A" * 101, "first_name: 101 characters is longer than the 100"),
        ("last_name", "A" * 101, "last_name: 101 characters is longer than the 100"),
        ("product_name", "N" * 301, "product_name: 301 characters is longer than the 300"),
        ("category", "K" * 201, "category: 201 characters is longer than the 200"),
    ],
)
def test_a_value_beyond_what_its_column_stores_is_a_bad_line_and_the_other_orders_are_kept(
    store, column, value, reason
):
    header = ITEMS_HEADER + ",total,delivered_at,last_name,product_name,category"
    good = "{n},c{n},c{n}@example.com,C,2024-03-01,p{n},2,5,,,,,"
    values = dict(zip(header.split(","), good.format(n=2).split(","), strict=True))
    values[column] = value

    report = import_orders_csv(
        store=store,
        stream=_order_file([good.format(n=1), ",".join(values.values()), good.format(n=3)], header),
        now=T0,
    )

    assert [line for line, _ in report.errors] == [3]
    assert reason in report.errors[0][1]
    assert set(Order.objects.values_list("external_id", flat=True)) == {"1", "3"}
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"c1", "c3"}
    assert set(Product.objects.values_list("external_id", flat=True)) == {"p1", "p3"}


def test_lines_adding_up_beyond_the_largest_total_skip_their_order_whole(store):
    rows = [
        "1,c1,a@example.com,A,2024-03-01,p1,1000,9999999.99",
        "2,c2,b@example.com,B,2024-03-01,p1,1000,9999999.99",
        "2,c2,b@example.com,B,2024-03-01,p2,1000,9999999.99",
    ]

    report = import_orders_csv(store=store, stream=_order_file(rows), now=T0)

    assert [line for line, _ in report.errors] == [3]
    assert "lines add up to an amount that must be at most 9999999999.99" in report.errors[0][1]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["1"]
    assert LineItem.objects.count() == 1


def test_control_characters_in_names_are_removed_before_they_are_stored(store):
    header = ITEMS_HEADER + ",last_name,product_name,category"
    row = "1,c1,a@example.com,A\x00da\x1b,2024-03-01,p1,1,5,Love\x0blace,Mu\x01g\ufffe,Ki\x85tchen"

    report = import_orders_csv(store=store, stream=_order_file([row], header), now=T0)

    assert report.errors == []
    customer = Customer.objects.get()
    assert (customer.first_name, customer.last_name) == ("Ada", "Love lace")
    product = Product.objects.get()
    assert (product.name, product.category) == ("Mug", "Ki tchen")


@pytest.mark.parametrize("column", ["order_id", "customer_id", "product_id"])
@pytest.mark.parametrize("bad_id", ["10\x0001", "\x1b[31m", "a\ufffe", "\x0b7"])
def test_an_id_holding_a_control_character_is_a_bad_line_saying_so(store, column, bad_id):
    rows = [_item_row(1), _item_row(2, **{column: bad_id})]

    report = import_orders_csv(store=store, stream=_order_file(rows), now=T0)

    assert [line for line, _ in report.errors] == [3]
    assert f"{column}: {bad_id!r} holds a control character" in report.errors[0][1]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["1"]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["c1"]
    assert list(Product.objects.values_list("external_id", flat=True)) == ["p1"]


@pytest.mark.parametrize("column", ["order_id", "product_id"])
def test_blank_or_whitespace_only_ids_are_bad_lines_and_never_stored_as_empty(store, column):
    blanks = ["", "   ", "\u3000", "\u00a0 "]
    rows = [_item_row(n, **{column: blank}) for n, blank in enumerate(blanks, start=1)]

    report = import_orders_csv(store=store, stream=_order_file(rows), now=T0)

    assert [line for line, _ in report.errors] == [2, 3, 4, 5]
    assert all(f"{column}: a value is required" in reason for _, reason in report.errors)
    assert not Order.objects.exists() and not Customer.objects.exists()
    assert not Product.objects.exists()


def test_blank_or_whitespace_only_product_ids_are_bad_lines_in_a_products_file(store):
    csv_text = "product_id,name\n   ,Mug\n,Tea\np1,Pot\n\u00a0,Cup\n"

    report = import_products_csv(store=store, stream=io.StringIO(csv_text))

    assert [line for line, _ in report.errors] == [2, 3, 5]
    assert list(Product.objects.values_list("external_id", flat=True)) == ["p1"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("p2,Tea,9223372036854775808,", "stock: '9223372036854775808' must lie between"),
        ("p2,Tea,-2147483649,", "stock: '-2147483649' must lie between"),
        ("p2,Tea,,10000000000", "price: '10000000000' must be at most 9999999999.99"),
        ("p2," + "T" * 301 + ",,", "name: 301 characters is longer than the 300 allowed"),
        ("p2\x00,Tea,,", "product_id: 'p2\\x00' holds a control character"),
    ],
)
def test_a_product_value_beyond_what_its_column_stores_is_a_bad_line(store, row, reason):
    csv_text = f"product_id,name,stock,price\np1,Mug,-3,1\n{row}\np3,Pot,2147483647,0\n"

    report = import_products_csv(store=store, stream=io.StringIO(csv_text))

    assert [line for line, _ in report.errors] == [3]
    assert reason in report.errors[0][1]
    assert dict(Product.objects.values_list("external_id", "stock")) == {
        "p1": -3,
        "p3": 2147483647,
    }


def test_an_overlong_product_url_is_a_bad_line(store):
    url = "https://shop.example.com/" + "a" * 480
    csv_text = f"product_id,name,url,image_url\np1,Mug,{url},\np2,Tea,,{url}\np3,Pot,,\n"

    report = import_products_csv(store=store, stream=io.StringIO(csv_text))

    assert [line for line, _ in report.errors] == [2, 3]
    assert "url: 505 characters is longer than the 500 allowed" in report.errors[0][1]
    assert list(Product.objects.values_list("external_id", flat=True)) == ["p3"]


def _live_flow(store, *, trigger):
    """A live one-email flow that starts on `trigger`."""
    from aftersale.flows.services import install_flow
    from aftersale.flows.tests.helpers import add_templates

    add_templates(store, T0, "hello")
    install_flow(
        store=store,
        slug="thanks",
        definition={
            "name": "Thanks",
            "trigger": {"event": trigger},
            "steps": [{"type": "email", "template": "hello"}],
        },
        now=T0,
    )


def test_importing_history_starts_no_journeys_for_past_purchases(store):
    from aftersale.flows.models import Enrollment

    _live_flow(store, trigger="first_purchase")

    report = _orders(
        "1,c1,a@example.com,A,2024-03-01T10:00:00Z,p1,,1,5,,,,",
        "2,c2,b@example.com,B,2024-03-04T08:59:00Z,p1,,1,5,,,,",
        store=store,
    )

    assert (report.imported, report.history_orders, report.journeys_from) == (2, 2, T0)
    assert not Enrollment.objects.exists()


def test_an_order_placed_once_the_import_started_starts_its_journey(store):
    from aftersale.flows.models import Enrollment

    _live_flow(store, trigger="any_purchase")
    stream = io.StringIO(HEADER + "1,c1,a@example.com,A,2024-03-04T09:00:00Z,p1,,1,5,,,,\n")

    import_orders_csv(store=store, stream=stream, now=T0)  # placed as the import starts

    assert Enrollment.objects.count() == 1


def test_a_time_without_offset_is_read_in_the_stores_time_zone(db):
    from aftersale.stores.services import create_store

    tokyo = create_store(name="Tokyo", slug="tokyo", now=T0, time_zone="Asia/Tokyo")

    _orders("1,c1,a@example.com,A,2024-03-01T10:00:00,p1,,1,5,,,,", store=tokyo)
    _orders("2,c1,a@example.com,A,2024-03-01T10:00:00+01:00,p1,,1,5,,,,", store=tokyo)

    assert Order.objects.get(external_id="1").placed_at == dt.datetime(2024, 3, 1, 1, tzinfo=dt.UTC)
    assert Order.objects.get(external_id="2").placed_at == dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC)


def test_a_returned_line_refunds_its_own_order(store):
    report = _orders(
        "1,c1,a@example.com,A,2024-03-01,p1,,2,10,,,,",
        "1,c1,a@example.com,A,2024-03-01,p1,,-1,10,,,,",
        store=store,
    )

    order = Order.objects.get()
    assert (report.errors, order.total, order.refunded_total) == ([], Decimal(20), Decimal(10))
    assert list(order.line_items.values_list("quantity", flat=True)) == [2]


def test_rows_naming_no_customer_are_counted_not_reported_as_bad_lines(store):
    report = _orders(
        "1,,,A,2024-03-01,p1,,1,5,,,,",
        "2,c2,,B,2024-03-01,p1,,1,5,,,,",
        store=store,
    )

    assert (report.errors, report.without_customer, report.imported) == ([], 1, 1)
    assert Customer.objects.get().email == ""

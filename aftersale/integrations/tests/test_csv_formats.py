"""Specification of the exports the CSV import recognises by their header (csv_formats):
recorded samples with their real column names, imported without any mapping."""

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

from aftersale.catalog.models import Product
from aftersale.customers.models import Customer
from aftersale.integrations.csv_formats import detect_format, parse_columns
from aftersale.integrations.csv_import import ORDER_FIELDS, import_orders_csv
from aftersale.integrations.csv_source import CsvFormatError, open_csv
from aftersale.orders.models import LineItem, Order, OrderStatus
from aftersale.stores.services import create_store, update_store_settings

FIXTURES = Path(__file__).parent / "fixtures"
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _import(store, name: str, **options):
    with (FIXTURES / name).open("rb") as raw:
        return import_orders_csv(store=store, stream=open_csv(raw), now=NOW, **options)


def _items(order: Order) -> list[tuple[str, int, Decimal]]:
    return sorted(order.line_items.values_list("product__external_id", "quantity", "unit_price"))


def test_a_shopify_export_is_one_order_per_name_with_the_first_rows_order_values(store):
    report = _import(store, "shopify_orders_export.csv")

    assert (report.format, report.errors, report.imported) == ("shopify", [], 2)
    # Stored by its Id, the id Shopify's webhooks name it by: never counted twice.
    ada = Order.objects.get(external_id="5501234567890")
    assert ada.placed_at == dt.datetime(2024, 3, 1, 9, 15, tzinfo=dt.UTC)
    assert (ada.total, ada.currency, ada.discount_codes) == (Decimal("37.90"), "EUR", ["WELCOME10"])
    assert ada.status == OrderStatus.FULFILLED
    assert _items(ada) == [("MUG-BLUE", 2, Decimal("12.50")), ("TEA-GREEN", 1, Decimal("8.00"))]
    assert (ada.customer.external_id, ada.customer.email) == (
        "email:ada@example.com",
        "ada@example.com",
    )
    assert (ada.customer.first_name, ada.customer.last_name) == ("Ada", "Lovelace")


def test_a_refunded_shopify_order_in_another_currency_keeps_its_own_currency(store):
    _import(store, "shopify_orders_export.csv")

    grace = Order.objects.get(external_id="5501234567891")
    assert (grace.status, grace.currency, grace.total) == (
        OrderStatus.REFUNDED,
        "USD",
        Decimal("20.00"),
    )
    assert grace.refunded_total == Decimal("20.00")
    assert not grace.customer.accepts_marketing
    # A line without a SKU is named by its product name.
    assert _items(grace) == [("Notebook", 1, Decimal("20.00"))]


def test_a_woocommerce_export_reads_its_statuses_coupons_and_guest_customers(store):
    report = _import(store, "woocommerce_orders_export.csv")

    assert (report.format, report.errors, report.imported) == ("woocommerce", [], 2)
    order = Order.objects.get(external_id="731")
    assert (order.total, order.currency, order.discount_codes) == (
        Decimal("47.00"),
        "GBP",
        ["spring3"],
    )
    assert order.status == OrderStatus.FULFILLED
    assert _items(order) == [("40", 1, Decimal("30.00")), ("41", 2, Decimal("5.00"))]
    assert order.customer.external_id == "12"
    guest = Order.objects.get(external_id="732")
    assert guest.status == OrderStatus.PAID
    assert guest.customer.external_id == "email:caroline@example.com"


def test_woocommerce_times_without_offset_are_read_in_the_stores_time_zone(db):
    store = create_store(name="Paris", slug="paris", now=NOW, time_zone="Europe/Paris")

    _import(store, "woocommerce_orders_export.csv")

    placed = Order.objects.get(external_id="731").placed_at
    assert placed == dt.datetime(2024, 3, 5, 13, 2, 33, tzinfo=dt.UTC)  # 14:02:33 in Paris


@pytest.fixture
def gift_shop(db):
    return create_store(
        name="Gift shop", slug="gift", now=NOW, time_zone="Europe/London", currency="GBP"
    )


def test_a_gift_shops_invoices_are_assembled_whatever_the_row_order(gift_shop):
    report = _import(gift_shop, "online_retail.csv")

    assert (report.format, report.errors) == ("online-retail", [])
    assert sorted(Order.objects.values_list("external_id", flat=True)) == [
        "536365",
        "536366",
        "536370",
    ]
    invoice = Order.objects.get(external_id="536365")  # its rows are lines 2, 5 and 9
    assert invoice.line_items.count() == 3
    assert invoice.total == Decimal("57.64")
    assert invoice.placed_at == dt.datetime(2010, 12, 1, 8, 26, tzinfo=dt.UTC)


def test_postage_lines_count_in_the_total_but_never_become_products(gift_shop):
    report = _import(gift_shop, "online_retail.csv")

    france = Order.objects.get(external_id="536370")
    assert france.total == Decimal("234.00")  # 2 x 24 x 3.75 + postage 3 x 18
    assert france.line_items.count() == 2
    assert not Product.objects.filter(external_id__in=["POST", "DOT"]).exists()
    assert report.non_product_lines == 1


def test_the_non_product_list_is_configurable(gift_shop):
    _import(gift_shop, "online_retail.csv", non_product=["85123A"])

    assert Product.objects.filter(external_id="POST").exists()
    assert not Product.objects.filter(external_id="85123A").exists()
    assert Order.objects.get(external_id="536365").total == Decimal("57.64")


def test_the_stores_own_non_product_codes_serve_when_the_import_names_none(gift_shop):
    update_store_settings(store=gift_shop, non_product_codes="85123A")

    _import(gift_shop, "online_retail.csv")

    assert Product.objects.filter(external_id="POST").exists()  # no longer a default
    assert not Product.objects.filter(external_id="85123A").exists()


def test_a_cancelling_invoice_refunds_the_customers_earlier_order_of_that_product(gift_shop):
    report = _import(gift_shop, "online_retail.csv")

    warmers = Order.objects.get(external_id="536366")
    assert warmers.refunded_total == Decimal("3.70")  # 2 of its 6 hand warmers
    assert warmers.status == OrderStatus.PLACED  # partly refunded: still a purchase
    assert not Order.objects.filter(external_id__startswith="C").exists()
    # C536383's customer has no order of those ducks in the file.
    assert (report.cancellation_lines, report.cancellations_applied) == (2, 1)


def test_importing_the_gift_shop_again_refunds_nothing_twice(gift_shop):
    _import(gift_shop, "online_retail.csv")

    again = _import(gift_shop, "online_retail.csv")

    assert (again.created, again.updated) == (0, 0)
    assert Order.objects.get(external_id="536366").refunded_total == Decimal("3.70")
    assert LineItem.objects.count() == 6


def test_rows_without_a_customer_are_counted_and_skipped_and_id_only_customers_kept(
    gift_shop,
):
    report = _import(gift_shop, "online_retail.csv")

    assert report.without_customer == 2
    assert report.errors == []
    customer = Customer.objects.get(external_id="17850")
    assert customer.email == ""  # known by id only: never emailed until an email arrives


def test_a_file_of_no_known_shape_is_read_as_aftersales_own_columns():
    assert detect_format(["order_id", "email", "placed_at"]).name == "aftersale"


def test_a_columns_mapping_names_only_fields_aftersale_reads():
    with pytest.raises(CsvFormatError, match="'invoice' is not a field Aftersale reads"):
        parse_columns("invoice=Invoice", known=ORDER_FIELDS)

    assert parse_columns("order_id=Invoice, email=E-mail", known=ORDER_FIELDS) == {
        "order_id": "Invoice",
        "email": "E-mail",
    }


def test_a_mapping_naming_a_column_the_file_lacks_lists_the_files_columns(store):
    stream = io.StringIO("Invoice,Mail\n1,a@example.com\n")

    with pytest.raises(CsvFormatError, match="no column 'Email'; its columns are: invoice, mail"):
        import_orders_csv(
            store=store, stream=stream, now=NOW, columns={"order_id": "Invoice", "email": "Email"}
        )


def test_any_export_imports_through_a_columns_mapping(store):
    stream = io.StringIO(
        "Invoice,E-mail,Date,SKU,Qty,Price,Currency\n"
        "A-1,ada@example.com,2024-03-01 10:00,p1,2,5.00,JPY\n"
        "A-2,bob@example.com,2024-03-01 11:00,p1,1,5.00,EUR\n"
        "A-1,ada@example.com,2024-03-01 10:00,p2,1,1.50,JPY\n"
    )
    mapping = parse_columns(
        "order_id=Invoice,email=E-mail,placed_at=Date,product_id=SKU,quantity=Qty,"
        "unit_price=Price,currency=Currency",
        known=ORDER_FIELDS,
    )

    report = import_orders_csv(store=store, stream=stream, now=NOW, columns=mapping)

    assert (report.format, report.errors, report.imported) == ("mapped", [], 2)
    first = Order.objects.get(external_id="A-1")
    assert (first.total, first.currency) == (Decimal("11.50"), "JPY")
    assert Order.objects.get(external_id="A-2").currency == "EUR"

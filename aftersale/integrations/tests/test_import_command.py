"""Specification of `aftersale import orders|products FILE.csv`."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aftersale.catalog.models import Product
from aftersale.orders.models import Order

ORDERS = (
    "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
    "1,c1,a@example.com,A,2024-03-01,p1,1,5\n"
    "2,c2,broken,B,2024-03-01,p1,1,5\n"
)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("import", *args, stdout=out)
    return out.getvalue()


def test_import_orders_keeps_good_rows_prints_bad_lines_and_exits_with_1(store, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    out = io.StringIO()

    with pytest.raises(CommandError) as failure:
        call_command("import", "orders", str(path), "--store", "test-shop", stdout=out)

    assert failure.value.returncode == 1
    assert "line 3: email: 'broken' is not a valid email address" in out.getvalue()
    assert "1 orders (1 new" in out.getvalue()
    assert list(Order.objects.values_list("external_id", flat=True)) == ["1"]


def test_import_products_without_errors_succeeds_on_the_only_store(store, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("product_id,name,price\np1,Mug,9.50\n")

    out = _run("products", str(path))

    assert "1 products (1 new" in out
    assert Product.objects.get(store=store).name == "Mug"


def test_a_file_without_a_required_column_is_refused(store, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,email\n1,a@example.com\n")

    with pytest.raises(CommandError, match="missing required column"):
        _run("orders", str(path))


def test_an_unknown_store_is_refused(store, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)

    with pytest.raises(CommandError, match="no store with slug"):
        _run("orders", str(path), "--store", "nope")


def test_a_latin1_file_reports_its_lines_that_are_not_utf8_and_keeps_the_others(store, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(
        (
            "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
            "1,c1,a@example.com,Ada,2024-03-01,p1,1,5\n"
            "2,c2,b@example.com,Zoë,2024-03-01,p1,1,5\n"
        ).encode("latin-1")
    )
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import", "orders", str(path), stdout=out)

    assert "line 3: first_name: byte 0xEB cannot be decoded; save the file as UTF-8" in (
        out.getvalue()
    )
    assert list(Order.objects.values_list("external_id", flat=True)) == ["1"]


def test_a_utf16_file_with_its_byte_order_mark_is_imported(store, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("product_id,name\np1,Crème\n", encoding="utf-16")

    assert "1 products (1 new" in _run("products", str(path))
    assert Product.objects.get(store=store).name == "Crème"


def test_import_orders_maps_columns_and_says_history_starts_no_journeys(store, tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_text(
        "Invoice,Mail,Date,Item,Qty,Price\n"
        "A-1,ada@example.com,2024-03-01,p1,1,5\n"
        "A-2,,2024-03-01,p1,1,5\n"
        "A-1,ada@example.com,2024-03-01,POSTAGE,1,3\n"
    )

    out = _run(
        "orders",
        str(path),
        "--columns",
        "order_id=Invoice,email=Mail,placed_at=Date,product_id=Item,quantity=Qty,unit_price=Price",
        "--non-product",
        "postage",
    )

    assert "read as: mapped" in out
    assert "1 rows without a customer email or id skipped" in out
    assert "1 non-product lines" in out
    assert "history: 1 orders placed before" in out and "started no journeys" in out
    assert Order.objects.get().total == 8


def test_a_columns_mapping_naming_a_missing_column_lists_the_files_columns(store, tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_text("Invoice,Mail\nA-1,ada@example.com\n")

    with pytest.raises(CommandError, match="no column 'Date'; its columns are: invoice, mail"):
        _run("orders", str(path), "--columns", "order_id=Invoice,placed_at=Date")

"""CSV uploads on the Connect page through Django's test client: the file queued, its
run polled by htmx until it ends, the bad line listed with its number, the good rows
kept; refused uploads said next to the field; another store's runs not found."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from aftersale.integrations import import_runs
from aftersale.integrations.models import ImportRun
from aftersale.lib.runs import RunStatus
from aftersale.orders.models import Order
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from aftersale.worker.jobs import run_jobs
from conftest import T0

CSV = (
    "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
    "1001,c1,ada@example.com,Ada,2024-03-01T10:00:00,p1,2,9.99\n"
    "1002,c2,bob-at-example.com,Bob,2024-03-01T11:00:00,p1,1,9.99\n"
    "1003,c3,cy@example.com,Cy,2024-03-02T09:00:00,p2,1,5\n"
)
POLL = 'hx-trigger="every 1s"'


@pytest.fixture
def signed_in(client: Client, merchant: User, tmp_path: Path, settings: Settings) -> Client:
    settings.DATA_DIR = tmp_path
    client.force_login(merchant)
    return client


def _upload(client: Client, store: Store, data: bytes, kind: str = "orders"):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("dashboard:connect-upload", args=[store.slug]),
        {"kind": kind, "file": SimpleUploadedFile("orders.csv", data, content_type="text/csv")},
    )


def _poll(client: Client, store: Store, run: ImportRun):  # type: ignore[no-untyped-def]
    return client.get(
        reverse("dashboard:import-run", args=[store.slug, run.pk]), headers={"HX-Request": "true"}
    )


def test_an_upload_is_queued_and_its_run_polled_until_the_worker_has_imported_it(
    signed_in: Client, store: Store, tmp_path: Path
) -> None:
    uploaded = _upload(signed_in, store, CSV.encode())

    run = ImportRun.objects.get(store=store)
    assert uploaded.status_code == 302
    assert uploaded["Location"] == f"/dashboard/{store.slug}/connect/#import-{run.pk}"
    page = signed_in.get(uploaded["Location"])
    assert "“orders.csv” received" in page.content.decode()
    assert POLL in page.content.decode()
    waiting = _poll(signed_in, store, run).content.decode()
    assert POLL in waiting and "Waiting for the worker" in waiting
    assert "<html" not in waiting  # only the panel

    run_jobs(home=tmp_path)

    done = _poll(signed_in, store, run).content.decode()
    assert POLL not in done  # the polling stops
    assert "Imported" in done
    assert '<progress max="1" value="1"' in done
    assert '<td class="num">3</td>' in done  # the bad line, by its number
    assert "email" in done
    assert set(Order.objects.filter(store=store).values_list("external_id", flat=True)) == {
        "1001",
        "1003",
    }


def test_the_connect_page_lists_the_last_ten_imports(signed_in: Client, store: Store) -> None:
    for _ in range(12):
        _upload(signed_in, store, CSV.encode())

    page = signed_in.get(reverse("dashboard:connect", args=[store.slug])).content.decode()

    assert page.count('class="import-run ') == 10


def test_an_upload_without_a_file_is_refused_next_to_the_field_keeping_the_kind(
    signed_in: Client, store: Store
) -> None:
    answer = signed_in.post(
        reverse("dashboard:connect-upload", args=[store.slug]), {"kind": "products"}
    )

    assert answer.status_code == 400
    html = answer.content.decode()
    assert 'id="upload-error">choose a CSV file to upload' in html
    assert 'value="products" checked' in html
    assert not ImportRun.objects.exists()


def test_an_upload_over_the_limit_is_refused_clearly(
    signed_in: Client, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_runs, "UPLOAD_LIMIT", 100)
    answer = _upload(signed_in, store, b"x" * 500)

    assert answer.status_code == 400
    assert "larger than" in answer.content.decode()
    assert not ImportRun.objects.exists()


def test_an_upload_whose_request_is_far_over_the_limit_is_refused_before_it_is_read(
    signed_in: Client, store: Store
) -> None:
    answer = signed_in.post(
        reverse("dashboard:connect-upload", args=[store.slug]),
        data=b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(import_runs.UPLOAD_LIMIT + 10**6),
    )

    assert answer.status_code == 413
    assert "larger than 100 MB" in answer.content.decode()


def test_another_stores_import_is_not_found(signed_in: Client, store: Store) -> None:
    other = create_store(name="Other", slug="other", now=T0)
    run = ImportRun.objects.create(
        store=other, kind="orders", file_path="/x", file_name="x.csv", size=1, created_at=T0
    )

    assert _poll(signed_in, store, run).status_code == 404
    assert _poll(signed_in, other, run).status_code == 404
    assert _upload(signed_in, other, CSV.encode()).status_code == 404
    assert ImportRun.objects.get().status == RunStatus.QUEUED


EXPORT = (
    "Invoice,Buyer,Mail,When,Item,Qty,Price\n"
    "A1,c1,ada@example.com,2024-03-01T10:00:00,p1,2,9.99\n"
    "A2,c2,bob@example.com,2024-03-01T11:00:00,p2,1,5\n"
)
MAPPING = (
    "order_id=Invoice, customer_id=Buyer, email=Mail, placed_at=When, product_id=Item, "
    "quantity=Qty, unit_price=Price"
)


def test_an_upload_with_the_files_own_column_names_is_imported_as_they_say(
    signed_in: Client, store: Store, tmp_path: Path
) -> None:
    uploaded = signed_in.post(
        reverse("dashboard:connect-upload", args=[store.slug]),
        {
            "kind": "orders",
            "columns": MAPPING,
            "file": SimpleUploadedFile("x.csv", EXPORT.encode()),
        },
    )
    assert uploaded.status_code == 302

    run_jobs(home=tmp_path)

    run = ImportRun.objects.get(store=store)
    assert (run.status, run.rows_good, run.rows_bad) == (RunStatus.DONE, 2, 0)
    assert set(Order.objects.filter(store=store).values_list("external_id", flat=True)) == {
        "A1",
        "A2",
    }


def test_column_names_that_are_no_mapping_are_refused_next_to_the_field_keeping_them(
    signed_in: Client, store: Store
) -> None:
    refused = signed_in.post(
        reverse("dashboard:connect-upload", args=[store.slug]),
        {
            "kind": "orders",
            "columns": "invoice=Invoice",
            "file": SimpleUploadedFile("x.csv", b"a\n"),
        },
    )
    page = refused.content.decode()
    assert refused.status_code == 400
    assert "column names: &#x27;invoice&#x27; is not a field Aftersale reads" in page
    assert 'value="invoice=Invoice"' in page
    assert not ImportRun.objects.exists()

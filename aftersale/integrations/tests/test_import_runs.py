"""Uploaded CSV files imported in the background: the file kept, the run queued, then
imported with its progress, counts and bad lines (numbered) written on the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from aftersale.catalog.models import Product
from aftersale.integrations import import_runs
from aftersale.integrations.import_runs import UploadRefused, queue_import, run_import
from aftersale.integrations.models import ImportRun
from aftersale.lib.runs import RunStatus, claim_run
from aftersale.orders.models import Order
from aftersale.stores.models import Store
from conftest import T0

HEADER = "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
GOOD = "1001,c1,ada@example.com,Ada,2024-03-01T10:00:00,p1,2,9.99\n"
BAD = "1002,c2,not-an-email,Bob,2024-03-01T11:00:00,p1,1,9.99\n"
LATER = "1003,c3,cy@example.com,Cy,2024-03-02T09:00:00,p2,1,5\n"


def _queue(store: Store, home: Path, data: bytes, kind: str = "orders") -> ImportRun:
    return queue_import(
        store=store, kind=kind, file_name="orders.csv", chunks=[data], home=home, now=T0
    )


def _run(run: ImportRun) -> ImportRun:
    assert claim_run(ImportRun, pk=run.pk, now=T0)
    run.refresh_from_db()
    return run_import(run=run, now=lambda: T0)


def test_an_upload_is_kept_under_the_stores_folder_and_queued(store: Store, tmp_path: Path) -> None:
    run = _queue(store, tmp_path, (HEADER + GOOD).encode())

    path = Path(run.file_path)
    assert path.parent == tmp_path / "uploads" / store.slug
    assert path.suffix == ".csv" and path.read_bytes() == (HEADER + GOOD).encode()
    assert (run.status, run.size, run.file_name) == (
        RunStatus.QUEUED,
        path.stat().st_size,
        "orders.csv",
    )


def test_an_upload_over_the_size_limit_is_refused_and_nothing_is_kept(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_runs, "UPLOAD_LIMIT", 10)
    with pytest.raises(UploadRefused, match="larger than"):
        queue_import(
            store=store,
            kind="orders",
            file_name="big.csv",
            chunks=[b"x" * 6, b"x" * 6],
            home=tmp_path,
            now=T0,
        )
    assert not ImportRun.objects.exists()
    assert list((tmp_path / "uploads" / store.slug).iterdir()) == []


def test_an_upload_of_an_unknown_kind_or_of_nothing_is_refused(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(UploadRefused, match="orders or products"):
        _queue(store, tmp_path, b"a,b\n", kind="customers")
    with pytest.raises(UploadRefused, match="empty"):
        _queue(store, tmp_path, b"")
    assert not ImportRun.objects.exists()


def test_the_good_rows_are_kept_and_the_bad_line_is_reported_with_its_number(
    store: Store, tmp_path: Path
) -> None:
    run = _run(_queue(store, tmp_path, (HEADER + GOOD + BAD + LATER).encode()))

    assert run.status == RunStatus.DONE
    assert (run.rows_read, run.rows_good, run.rows_bad, run.imported) == (3, 2, 1, 2)
    assert run.progress == 1.0
    assert run.bad_lines_total == 1
    [bad] = run.bad_lines
    assert bad["line"] == 3 and "email" in bad["reason"]
    assert set(Order.objects.filter(store=store).values_list("external_id", flat=True)) == {
        "1001",
        "1003",
    }
    assert not Path(run.file_path).exists()  # imported: the upload is not kept


def test_a_byte_that_is_not_utf8_costs_its_line_only(store: Store, tmp_path: Path) -> None:
    latin1 = "1002,c2,bo@example.com,Bj\xf6rn,2024-03-01T11:00:00,p1,1,9.99\n".encode("latin-1")
    run = _run(_queue(store, tmp_path, (HEADER + GOOD).encode() + latin1 + LATER.encode()))

    assert (run.status, run.rows_good, run.rows_bad) == (RunStatus.DONE, 2, 1)
    assert run.bad_lines[0]["line"] == 3
    assert "cannot be decoded" in run.bad_lines[0]["reason"]


def test_a_file_missing_a_required_column_fails_with_the_reason(
    store: Store, tmp_path: Path
) -> None:
    run = _run(_queue(store, tmp_path, b"order_id,email\n1,a@example.com\n"))

    assert run.status == RunStatus.FAILED
    assert "missing required column(s)" in run.error
    assert run.finished_at == T0


def test_only_the_first_thousand_bad_lines_are_kept_with_the_total(
    store: Store, tmp_path: Path
) -> None:
    bad = "".join(f"{n},c{n},nope,X,2024-03-01,p1,1,1\n" for n in range(1200))
    run = _run(_queue(store, tmp_path, (HEADER + bad).encode()))

    assert (run.rows_bad, run.bad_lines_total, len(run.bad_lines)) == (1200, 1200, 1000)
    assert run.bad_lines[0]["line"] == 2


def test_progress_and_counts_are_written_while_the_file_is_read(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_runs, "PROGRESS_EVERY", 0.0)
    seen: list[tuple[float, int]] = []
    write = import_runs._write_progress

    def spy(run: ImportRun, report: object, *, done: float) -> None:
        write(run, report, done=done)  # type: ignore[arg-type]
        row = ImportRun.objects.get(pk=run.pk)
        seen.append((row.progress, row.rows_read))

    monkeypatch.setattr(import_runs, "_write_progress", spy)
    rows = "".join(f"{n},c{n},c{n}@example.com,X,2024-03-01,p1,1,1\n" for n in range(11000))
    run = _queue(store, tmp_path, (HEADER + rows).encode())
    assert claim_run(ImportRun, pk=run.pk, now=T0)
    run.refresh_from_db()
    import_runs.run_import(run=run, now=lambda: T0)

    assert len(seen) >= 2
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)
    assert all(0 < p < 1 for p, _ in seen) and seen[0][1] >= 5000
    run.refresh_from_db()
    assert (run.progress, run.imported) == (1.0, 11000)


def test_a_products_file_is_imported_as_products(store: Store, tmp_path: Path) -> None:
    data = b"product_id,name,price\np1,Blue mug,9.50\np2,,3\n"
    run = _run(_queue(store, tmp_path, data, kind="products"))

    assert (run.status, run.rows_good, run.rows_bad, run.imported) == (RunStatus.DONE, 1, 1, 1)
    assert run.bad_lines[0]["line"] == 3
    assert Product.objects.get(store=store, external_id="p1").name == "Blue mug"

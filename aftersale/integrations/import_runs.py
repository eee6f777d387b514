"""CSV files uploaded to import in the background (the dashboard's Connect page): the
upload is kept under AFTERSALE_HOME/uploads/<store>/ and an ImportRun queued; a worker
(worker.jobs) claims it and imports the file with the streamed CSV importer, writing
its progress (bytes read / file size) and counts as it goes."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from django.db.models import QuerySet

from aftersale.integrations.csv_formats import parse_columns
from aftersale.integrations.csv_import import (
    ORDER_FIELDS,
    ImportReport,
    import_orders_csv,
    import_products_csv,
)
from aftersale.integrations.csv_source import CsvFormatError, open_csv
from aftersale.integrations.models import BAD_LINES_KEPT, ImportKind, ImportRun
from aftersale.lib.runs import RunStatus, finish_run
from aftersale.stores.models import Store

logger = logging.getLogger(__name__)

UPLOAD_LIMIT = 100 * 1024 * 1024  # bytes
# A run's progress and counts are written at most this often (seconds).
PROGRESS_EVERY = 0.5


class UploadRefused(ValueError):
    """An upload that cannot be queued (too large, empty, not a kind Aftersale imports)."""


def queue_import(
    *,
    store: Store,
    kind: str,
    file_name: str,
    chunks: Iterable[bytes],
    home: Path,
    now: dt.datetime,
    columns: str = "",
) -> ImportRun:
    """Keep the uploaded file (its `chunks`) under `home`/uploads/<store>/<uuid>.csv and
    queue its import as `kind` (orders or products), its columns read as `columns` says
    (`field=Column,...`, as `aftersale import orders --columns`; empty: by the header).
    Raises UploadRefused, keeping nothing, for an unknown kind, a mapping that is not
    one (or given for products), an empty file, or one over UPLOAD_LIMIT bytes."""
    if kind not in ImportKind.values:
        raise UploadRefused(f"choose what the file holds: {' or '.join(ImportKind.values)}")
    columns = _checked_columns(kind, columns)
    folder = home / "uploads" / store.slug
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.csv"
    size = 0
    try:
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > UPLOAD_LIMIT:
                    raise UploadRefused(
                        f"the file is larger than {UPLOAD_LIMIT // (1024 * 1024)} MB: "
                        "split it and upload the parts one after the other"
                    )
                out.write(chunk)
        if size == 0:
            raise UploadRefused("the file is empty")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ImportRun.objects.create(
        store=store,
        kind=kind,
        file_path=str(path),
        file_name=Path(file_name).name[:255] or "upload.csv",
        size=size,
        columns=columns,
        created_at=now,
    )


def _checked_columns(kind: str, columns: str) -> str:
    """`columns` tidied, or UploadRefused saying what is wrong with it."""
    columns = columns.strip()
    if not columns:
        return ""
    if kind != ImportKind.ORDERS:
        raise UploadRefused("column names apply to order files: leave them empty for products")
    if len(columns) > (ImportRun._meta.get_field("columns").max_length or 0):
        raise UploadRefused("the column names are too long")
    try:
        parse_columns(columns, known=ORDER_FIELDS, label="column names")
    except CsvFormatError as error:
        raise UploadRefused(str(error)) from error
    return columns


def run_import(*, run: ImportRun, now: Callable[[], dt.datetime]) -> ImportRun:
    """Import the file of `run` (claimed: running) into its store and end the run: done
    with its counts and bad lines (the first BAD_LINES_KEPT, and their total), or failed
    with the reason when the file cannot be imported at all (a missing column, a file
    gone). Progress is written at most every PROGRESS_EVERY seconds. The file is deleted
    once imported."""
    path = Path(run.file_path)
    written = [0.0]

    try:
        with path.open("rb") as raw:
            text = open_csv(raw)

            def progress(report: ImportReport) -> None:
                if time.monotonic() - written[0] >= PROGRESS_EVERY:
                    written[0] = time.monotonic()
                    _write_progress(run, report, done=_done(run, report, raw.tell()))

            if run.kind == ImportKind.ORDERS:
                report = import_orders_csv(
                    store=run.store,
                    stream=text,
                    now=now(),
                    progress=progress,
                    columns=parse_columns(run.columns, known=ORDER_FIELDS, label="column names")
                    or None,
                )
            else:
                report = import_products_csv(store=run.store, stream=text, progress=progress)
    except (CsvFormatError, OSError) as error:
        finish_run(ImportRun, pk=run.pk, status=RunStatus.FAILED, now=now(), error=str(error))
    except Exception as error:
        logger.exception("import run %s failed", run.pk)
        finish_run(
            ImportRun,
            pk=run.pk,
            status=RunStatus.FAILED,
            now=now(),
            error=f"the import stopped on an unexpected error: {error}",
        )
    else:
        finish_run(
            ImportRun, pk=run.pk, status=RunStatus.DONE, now=now(), **_counts(report, done=1.0)
        )
    path.unlink(missing_ok=True)
    run.refresh_from_db()
    return run


def _done(run: ImportRun, report: ImportReport, position: int) -> float:
    """How far the import is: for orders, the rows imported of those read (the whole
    file is read, to put orders back together, before the first is imported); for
    products, the bytes read."""
    if run.kind == ImportKind.ORDERS:
        handled = report.rows_imported + report.without_customer + len(report.errors)
        return handled / max(report.rows_read, 1)
    return position / max(run.size, 1)


def _write_progress(run: ImportRun, report: ImportReport, *, done: float) -> None:
    ImportRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        **_counts(report, done=min(done, 0.99))
    )


def _counts(report: ImportReport, *, done: float) -> dict[str, object]:
    return {
        "progress": done,
        "rows_read": report.rows_read,
        "rows_good": report.rows_imported,
        "rows_bad": len(report.errors),
        "imported": report.imported,
        "bad_lines": [
            {"line": line, "reason": reason} for line, reason in report.errors[:BAD_LINES_KEPT]
        ],
        "bad_lines_total": len(report.errors),
    }


def import_runs(*, store: Store, limit: int = 10) -> QuerySet[ImportRun]:
    """The store's latest `limit` import runs, newest first."""
    return ImportRun.objects.filter(store=store).order_by("-created_at", "-pk")[:limit]


def import_run(*, store: Store, run_id: int) -> ImportRun | None:
    """Run `run_id` if it is one of `store`'s, else None."""
    return ImportRun.objects.filter(store=store, pk=run_id).first()

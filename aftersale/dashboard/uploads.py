"""CSV uploads on the Connect page: the file queued for a background import
(integrations.import_runs), then its run shown with htmx-polled progress, the rows kept
and the bad lines with their numbers."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from aftersale.dashboard.connect import _connect_page
from aftersale.dashboard.views import HtmxRequest, _page, _store
from aftersale.integrations.import_runs import UPLOAD_LIMIT, UploadRefused, import_run, queue_import
from aftersale.lib import clock

# Room for the multipart framing around a file of exactly UPLOAD_LIMIT bytes.
_FRAMING = 64 * 1024


@login_required
@require_POST
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Queue the uploaded CSV (orders or products) for a background import and go back
    to the Connect page, where its run shows its progress; a refused file (none, too
    large, an unknown kind) is said next to the field, with the kind chosen kept."""
    store = _store(request, slug)
    if not _within_limit(request):  # refused before its bytes are read
        too_large = f"the file is larger than {UPLOAD_LIMIT // 2**20} MB: split it"
        return _connect_page(request, store, status=413, upload_error=too_large)
    kind = request.POST.get("kind", "orders")
    columns = request.POST.get("columns", "")
    file = request.FILES.get("file")
    try:
        if file is None:
            raise UploadRefused("choose a CSV file to upload")
        run = queue_import(
            store=store,
            kind=kind,
            file_name=file.name or "upload.csv",
            chunks=file.chunks(),
            home=Path(settings.DATA_DIR),
            now=clock.now(),
            columns=columns,
        )
    except UploadRefused as error:
        return _connect_page(
            request,
            store,
            status=400,
            upload_kind=kind,
            upload_columns=columns,
            upload_error=str(error),
        )
    messages.success(request, f"“{run.file_name}” received: it is being imported below.")
    return redirect(reverse("dashboard:connect", args=[store.slug]) + f"#import-{run.pk}")


def _within_limit(request: HttpRequest) -> bool:
    length = request.META.get("CONTENT_LENGTH") or "0"
    return not length.isdigit() or int(length) <= UPLOAD_LIMIT + _FRAMING


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_status(request: HtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """One import run: for htmx's poll only its panel (which stops polling once the run
    ended), else a page of its own with every bad line kept."""
    store = _store(request, slug)
    run = import_run(store=store, run_id=run_id)
    if run is None:
        raise Http404("no such import")
    context = {"store": store, "run": run, "section": "connect", "detail": True}
    if request.htmx and not request.htmx.history_restore_request:
        context["detail"] = request.GET.get("detail") == "1"
        return render(request, "dashboard/connect/import_run.html", context)
    return _page(request, "dashboard/connect/import_run_page.html", context)

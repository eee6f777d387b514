"""The stored offline evaluations of the recommendation strategies (`aftersale evaluate`),
the runs the dashboard's Recommendations page shows: the store's own and those of a
reference dataset."""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Schema
from pydantic import Field

from aftersale.api.auth import request_store
from aftersale.api.errors import found
from aftersale.api.read_schemas import READ_ERRORS
from aftersale.api.routes import router
from aftersale.recommendations.evaluation.records import evaluation_run, evaluation_runs
from aftersale.recommendations.models import EvaluationRun

TAGS = ["recommendations"]
# A run id is a database id: beyond a signed 64-bit integer no row has it.
_MAX_ID = 2**63 - 1


class EvaluationRunSummaryOut(Schema):
    id: int
    dataset: str = Field(description="what was evaluated: the store's orders or a dataset")
    own: bool = Field(description="true: this store's own order history")
    cut: dt.date = Field(description="tested on the orders from this day")
    validation_cut: dt.date = Field(description="tuned on the orders before this day")
    quick: bool
    ran_at: dt.datetime
    seconds: float


class EvaluationRunOut(EvaluationRunSummaryOut):
    report: dict[str, Any] = Field(
        description="the JSON `aftersale evaluate --format json` prints: rows, bootstrap "
        "comparisons, chosen settings"
    )


def _summary(run: EvaluationRun) -> dict[str, object]:
    return {
        "id": run.pk,
        "dataset": run.dataset,
        "own": run.store_id is not None,
        "cut": run.cut,
        "validation_cut": run.validation_cut,
        "quick": run.quick,
        "ran_at": run.ran_at,
        "seconds": run.seconds,
    }


@router.get(
    "/evaluation-runs", response={200: list[EvaluationRunSummaryOut], **READ_ERRORS}, tags=TAGS
)
def list_evaluation_runs(request: HttpRequest) -> list[dict[str, object]]:
    """The 20 latest evaluation runs the store may see, newest first: its own and the
    reference datasets'."""
    return [_summary(run) for run in evaluation_runs(store=request_store(request))]


@router.get("/evaluation-runs/{run_id}", response={200: EvaluationRunOut, **READ_ERRORS}, tags=TAGS)
def get_evaluation_run(request: HttpRequest, run_id: int) -> dict[str, object]:
    """One evaluation run with its whole report; another store's run is not found."""
    run = None
    if 0 < run_id <= _MAX_ID:
        run = evaluation_run(store=request_store(request), run_id=run_id)
    run = found(run, loc=["path", "run_id"], what="such evaluation run")
    return {**_summary(run), "report": run.report}

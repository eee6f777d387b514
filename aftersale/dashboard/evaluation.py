"""A stored evaluation report (`EvaluationRun.report`, the JSON of `aftersale evaluate`)
shaped for the Recommendations page: one table per task, its best rows marked, and the
bootstrap comparison said in a sentence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aftersale.recommendations.evaluation.records import stored_rows

if TYPE_CHECKING:
    # Only a type: run.py brings NumPy and pandas, not needed to start the web app.
    from aftersale.recommendations.evaluation.run import Row

TASK_TITLES = {
    "cross_sell": "Cross-sell: products the customer never bought before",
    "replenishment": "Replenishment: products the customer bought before",
}
METRIC_NAMES = {"hit_rate": "hit rate", "recall": "recall", "ndcg": "NDCG"}


@dataclass(frozen=True)
class MethodRow:
    """One method's results on one task, its chosen settings as text, and `best`:
    "strategy", "baseline" or ""."""

    result: Row
    settings: str
    best: str


@dataclass(frozen=True)
class TaskResults:
    """A task's table and the sentence comparing its best strategy with its best
    baseline."""

    task: str
    title: str
    rows: list[MethodRow]
    verdict: str
    # What mixing sources gives: coverage against the method alone, at what hit rate
    # (the JSON's "variety"); "" when the run has none.
    variety: str = ""


def task_results(*, report: dict[str, Any]) -> list[TaskResults]:
    """The report's tasks in the order its rows first name them."""
    tasks = list(dict.fromkeys(row["task"] for row in report["rows"]))
    return [_task(report=report, task=task) for task in tasks]


def _task(*, report: dict[str, Any], task: str) -> TaskResults:
    comparison = report.get("bootstrap", {}).get(task, {})
    best = {comparison.get("strategy"): "strategy", comparison.get("baseline"): "baseline"}
    rows = [
        MethodRow(
            result=row, settings=_settings_text(dict(row.settings)), best=best.get(row.name, "")
        )
        for row in stored_rows(report=report)
        if row.task == task
    ]
    return TaskResults(
        task=task,
        title=TASK_TITLES.get(task, task),
        rows=rows,
        verdict=_verdict(comparison=comparison, k=report["k"]),
        variety=_variety(gain=report.get("variety", {}).get(task, {}), k=report["k"]),
    )


def _verdict(*, comparison: dict[str, Any], k: int) -> str:
    """E.g. "personal reaches 1.23 times the hit rate@4 of the best baseline,
    implicit_bm25 (95% paired-bootstrap interval 1.10 to 1.37): better, beyond noise."."""
    if not comparison:
        return ""
    metric = f"{METRIC_NAMES.get(comparison['metric'], comparison['metric'])}@{k}"
    strategy, baseline = comparison["strategy"], comparison["baseline"]
    ratio, low, high = comparison["ratio"], comparison["low"], comparison["high"]
    if ratio is None:
        return (
            f"The best baseline, {baseline}, has a {metric} of zero, so {strategy} "
            "has no ratio to it."
        )
    if low > 1:
        outcome = "better, beyond noise"
    elif high is not None and high < 1:
        outcome = "worse, beyond noise"
    else:
        outcome = "not distinguishable from the baseline on this data"
    level = round(comparison["level"] * 100)
    return (
        f"{strategy} reaches {ratio:.2f} times the {metric} of the best baseline, {baseline} "
        f"({level}% paired-bootstrap interval {low:.2f} to {_bound(high)}): {outcome}."
    )


def _variety(*, gain: dict[str, Any], k: int) -> str:
    """E.g. "discovery shows 2.32 times the products of discovery_plain, at 1.00 times its
    hit rate@4 (95% paired-bootstrap interval 0.99 to 1.00)."; "" when the mix changes
    nothing (replenishment) or the run has no such figures."""
    if not gain or gain.get("coverage_ratio") in (None, 1.0) or gain.get("ratio") is None:
        return ""
    metric = f"{METRIC_NAMES.get(gain['metric'], gain['metric'])}@{k}"
    level = round(gain["level"] * 100)
    return (
        f"{gain['strategy']} shows {gain['coverage_ratio']:.2f} times the products of "
        f"{gain['plain']}, at {gain['ratio']:.2f} times its {metric} ({level}% "
        f"paired-bootstrap interval {gain['low']:.2f} to {_bound(gain['high'])})."
    )


def _bound(value: float | None) -> str:
    # An interval's top is unbounded (stored as null) when a resample of the baseline
    # scored zero.
    return "infinity" if value is None else f"{value:.2f}"


def _settings_text(settings: dict[str, Any]) -> str:
    """Settings as `key=value` pairs, e.g. "half_life_days=90 neighbours=50"."""
    return (
        " ".join(
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in sorted(settings.items())
        )
        or "defaults"
    )

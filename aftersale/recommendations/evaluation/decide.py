"""From an evaluation of a store's own history to the strategy its emails use, per
task: the winner among the strategies the live recommender can serve, when the lower end
of its paired-bootstrap interval against the default is above 1; else the default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aftersale.recommendations.evaluation.bootstrap import paired_ratio_interval
from aftersale.recommendations.evaluation.metrics import TASKS, Task
from aftersale.recommendations.evaluation.run import GOAL_METRIC, Report, Row
from aftersale.recommendations.strategies import LIVE_DEFAULTS as DEFAULTS
from aftersale.recommendations.strategies import LIVE_METHODS

_METRIC_NAMES = {"hit_rate": "hit rate", "ndcg": "NDCG", "recall": "recall"}


@dataclass(frozen=True)
class Decision:
    """The strategy chosen for `task`, the default it was measured against, why, and
    the figures behind it (JSON-ready)."""

    task: Task
    strategy: str
    default: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


def decide(*, report: Report) -> list[Decision]:
    """One decision per task of `report` (an evaluation with per-user scores, as
    `run.evaluate` returns it)."""
    return [_decide(report=report, task=task) for task in TASKS]


def _decide(*, report: Report, task: Task) -> Decision:
    metric = GOAL_METRIC[task]
    label = f"{_METRIC_NAMES[metric]}@{report.k}"
    default = DEFAULTS[task]
    rows = {
        r.name: r
        for r in report.rows
        if r.task == task
        and r.name in LIVE_METHODS[task]
        and not r.skipped
        and r.users is not None
        and len(r.users.hit)
    }
    if default not in rows:
        return Decision(
            task, default, default, f"{default} (the default): it has no figures on this history"
        )
    base = rows[default]
    best = max(rows.values(), key=lambda r: (r.metric(metric), r.name == default))
    figures: dict[str, Any] = {
        "metric": metric,
        "k": report.k,
        "winner": best.name,
        "winner_value": best.metric(metric),
        "default_value": base.metric(metric),
    }
    if best.name == default:
        return Decision(
            task,
            default,
            default,
            f"{default} (the default) scored best on this store's history: {label} "
            f"{base.metric(metric):.3f}",
            figures,
        )
    interval = paired_ratio_interval(a=_per_user(best, metric), b=_per_user(base, metric))
    figures |= {"ratio": interval.ratio, "low": interval.low, "high": interval.high}
    said = (
        f"{best.name} reached {best.metric(metric):.3f} {label} against {base.metric(metric):.3f} "
        f"for {default}, {interval.ratio:.2f} times (95% interval {interval.low:.2f} to "
        f"{interval.high:.2f})"
    )
    if interval.low > 1.0:
        return Decision(task, best.name, default, f"{said}: better beyond noise", figures)
    return Decision(
        task, default, default, f"{default} (the default) kept: {said}, not beyond noise", figures
    )


def _per_user(row: Row, metric: str) -> Any:
    assert row.users is not None
    return getattr(row.users, "hit" if metric == "hit_rate" else metric)

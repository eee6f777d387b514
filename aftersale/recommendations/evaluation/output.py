"""The report as JSON-ready data and as a rich table."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from aftersale.recommendations.evaluation.run import Report

ROW_FIELDS = (
    "task",
    "name",
    "kind",
    "hit_rate",
    "recall",
    "ndcg",
    "coverage",
    "fit_seconds",
    "peak_mb",
    "skipped",
    "diversity",
)


def report_data(*, report: Report) -> dict[str, Any]:
    """{"k", "rows": [...], "bootstrap": {task: {...}}, "settings": {task: {name: ...}}}:
    rows carry exactly ROW_FIELDS; bootstrap gives, per task, the best strategy's ratio to
    the best baseline on the task's metric with its 95% paired-bootstrap interval;
    settings records what validation chose for every method; a skipped method's row has
    null figures and its reason in "skipped"; "cuts" says where the history was cut and
    why; "variety" gives, per task, a method with variety against itself without it
    (goal-metric ratio with its interval, coverages, diversities)."""
    rows = [{name: _json_value(getattr(row, name)) for name in ROW_FIELDS} for row in report.rows]
    bootstrap = {
        c.task: {
            "metric": c.metric,
            "strategy": c.strategy,
            "baseline": c.baseline,
            "ratio": c.interval.ratio,
            "low": c.interval.low,
            "high": c.interval.high,
            "level": c.interval.level,
        }
        for c in report.comparisons
    }
    settings: dict[str, dict[str, Any]] = {}
    for row in report.rows:
        settings.setdefault(row.task, {})[row.name] = dict(row.settings)
    data: dict[str, Any] = {
        "k": report.k,
        "rows": rows,
        "bootstrap": bootstrap,
        "settings": settings,
    }
    if report.variety:
        data["variety"] = {
            v.task: {
                "metric": v.metric,
                "strategy": v.strategy,
                "plain": v.plain,
                "ratio": v.interval.ratio,
                "low": v.interval.low,
                "high": v.interval.high,
                "level": v.interval.level,
                "coverage": v.coverage,
                "plain_coverage": v.plain_coverage,
                "coverage_ratio": _ratio(v.coverage, v.plain_coverage),
                "diversity": _json_value(v.diversity),
                "plain_diversity": _json_value(v.plain_diversity),
            }
            for v in report.variety
        }
    if report.cuts is not None:
        cuts = report.cuts
        data["cuts"] = {
            "test_cut": str(cuts.test_cut.astype("datetime64[s]")),
            "validation_cut": str(cuts.validation_cut.astype("datetime64[s]")),
            "rule": cuts.rule,
            "test_customers": cuts.test_customers,
            "validation_customers": cuts.validation_customers,
        }
    return data


def _ratio(a: float, b: float) -> float | None:
    """a / b, None when b is zero."""
    return a / b if b else None


def _json_value(value: Any) -> Any:
    """NaN (no figure) as None, which JSON has."""
    return None if isinstance(value, float) and math.isnan(value) else value


def report_table(*, report: Report) -> Table:
    """The rows as a table, per task, best goal metric first within each kind."""
    k = report.k
    table = Table(title=f"Offline evaluation at K={k}")
    for header in (
        "task",
        "method",
        "kind",
        f"hit@{k}",
        f"recall@{k}",
        f"ndcg@{k}",
        "coverage",
        "diversity",
        "fit s",
        "peak MB",
        "skipped because",
    ):
        table.add_column(
            header, justify="left" if header in {"task", "method", "kind"} else "right"
        )
    for row in report.rows:
        if row.skipped:
            table.add_row(row.task, row.name, row.kind, *["-"] * 7, row.skipped)
            continue
        table.add_row(
            row.task,
            row.name,
            row.kind,
            f"{row.hit_rate:.4f}",
            f"{row.recall:.4f}",
            f"{row.ndcg:.4f}",
            f"{row.coverage:.4f}",
            f"{row.diversity:.3f}",
            f"{row.fit_seconds:.2f}",
            f"{row.peak_mb:.0f}",
            "",
        )
    return table


def comparison_lines(*, report: Report) -> list[str]:
    """One sentence per task: the best strategy's ratio to the best baseline and its
    95% interval."""
    lines = [
        f"{c.task}: {c.strategy} / {c.baseline} on {c.metric} = {c.interval.ratio:.3f} "
        f"(95% paired bootstrap {c.interval.low:.3f}..{c.interval.high:.3f})"
        for c in report.comparisons
    ]
    lines += [
        f"variety, {v.task}: {v.strategy} / {v.plain} on {v.metric} = {v.interval.ratio:.3f} "
        f"(95% paired bootstrap {v.interval.low:.3f}..{v.interval.high:.3f}), coverage "
        f"{v.coverage:.4f} against {v.plain_coverage:.4f}, diversity {v.diversity:.3f} "
        f"against {v.plain_diversity:.3f}"
        for v in report.variety
        if v.task == "cross_sell"
    ]
    return lines

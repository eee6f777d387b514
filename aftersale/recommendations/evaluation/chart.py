"""The results table as a PNG: one panel per task, a bar per method and metric."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aftersale.recommendations.evaluation.metrics import TASKS
from aftersale.recommendations.evaluation.run import Row

_METRICS = ("hit_rate", "recall", "ndcg")
_COLOURS = {"aftersale": "#1f6f43", "baseline": "#9a9a9a"}


def write_chart(*, rows: Sequence[Row], k: int, path: Path) -> Path:
    """Draw hit rate, recall and NDCG at `k` of every row, Aftersale's strategies in
    green and baselines in grey, one panel per task; write it to `path` as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(len(TASKS), len(_METRICS), figsize=(15, 8), squeeze=False)
    for row_axes, task in zip(axes, TASKS, strict=True):
        # A skipped method has no bar (its figures are None or NaN).
        task_rows = [r for r in rows if r.task == task and not r.skipped]
        names = [r.name for r in task_rows]
        colours = [_COLOURS[r.kind] for r in task_rows]
        for axis, metric in zip(row_axes, _METRICS, strict=True):
            axis.barh(names, [r.metric(metric) for r in task_rows], color=colours)
            axis.invert_yaxis()
            axis.set_title(f"{task}: {metric}@{k}", fontsize=10)
            axis.tick_params(labelsize=8)
    figure.suptitle("Aftersale strategies (green) vs library baselines (grey)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

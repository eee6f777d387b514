"""The live strategies card of the Recommendations page: per task, the strategy the
store's emails use, why (the evaluation's figures, or the merchant's pin), since when,
and the form that pins one or lets the evaluation choose again."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from aftersale.lib import clock
from aftersale.recommendations.live import UnknownStrategy, live_strategies, pin_strategy
from aftersale.recommendations.models import LiveStrategy
from aftersale.recommendations.strategies import LIVE_METHODS
from aftersale.stores.models import Store

TASK_NAMES = {
    "cross_sell": "Cross-sell picks (thank-you, cross-sell, offer and win-back emails)",
    "replenishment": "Repeat picks (replenishment emails)",
}
_METRICS = {"hit_rate": "hit rate", "ndcg": "NDCG"}


@dataclass(frozen=True)
class LiveRow:
    """One task's live strategy as the card shows it."""

    task: str
    title: str
    live: LiveStrategy
    figures: str
    choices: tuple[str, ...]


def live_rows(*, store: Store) -> list[LiveRow]:
    """The store's tasks with their live strategy, its figures said in words and the
    strategies a merchant may pin."""
    return [
        LiveRow(
            task=live.task,
            title=TASK_NAMES.get(live.task, live.task),
            live=live,
            figures=_figures(live),
            choices=LIVE_METHODS[live.task],
        )
        for live in live_strategies(store=store)
    ]


def _figures(live: LiveStrategy) -> str:
    """E.g. "popularity 0.412 hit rate@4, discovery (the default) 0.300"."""
    f = live.figures or {}
    if "metric" not in f:
        return ""
    label = f"{_METRICS.get(f['metric'], f['metric'])}@{f.get('k', 4)}"
    text = f"{f['winner']} {f['winner_value']:.3f} {label}"
    if f["winner"] != live.default:
        text += f", {live.default} (the default) {f['default_value']:.3f}"
    return text


@login_required
@require_POST
def live_strategy_pin(request: HttpRequest, slug: str) -> HttpResponse:
    """Pin the posted `strategy` for the posted `task`, or with an empty strategy let the
    evaluation choose again; back to the Recommendations page, saying what changed."""
    from aftersale.dashboard.views import _store  # views shows the card: imported late

    store = _store(request, slug)
    task, strategy = request.POST.get("task", ""), request.POST.get("strategy", "")
    try:
        live = pin_strategy(store=store, task=task, strategy=strategy or None, now=clock.now())
    except UnknownStrategy as error:
        messages.error(request, str(error))
    else:
        said = "pinned" if live.pinned else "chosen by the evaluation again"
        messages.success(request, f"{TASK_NAMES[task]}: {live.strategy}, {said}.")
    return redirect("dashboard:recommendations", slug=store.slug)

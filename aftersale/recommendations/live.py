"""Which strategy goes live, per store and task: the evaluation of the store's own
history decides (evaluation/decide.py), weekly in the worker or when `aftersale evaluate
--store` runs, and a merchant may pin one instead. The recommender reads the choice
(selectors.live_sources)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q

from aftersale.recommendations.evaluation.records import finite, save_evaluation
from aftersale.recommendations.models import EvaluationRun, FitRun, LiveStrategy
from aftersale.recommendations.strategies import LIVE_DEFAULTS, LIVE_METHODS
from aftersale.stores.models import Store

if TYPE_CHECKING:
    from aftersale.recommendations.evaluation.decide import Decision

logger = logging.getLogger(__name__)

EVALUATE_EVERY = dt.timedelta(days=7)
# The worker's evaluation: a quick sample, each method a minute and 2 GB at most.
WORKER_SECONDS = 60.0
WORKER_MEMORY_MB = 2000.0
QUICK_CUSTOMERS = 400
NOT_EVALUATED = "the default: this store's history has not been evaluated yet"


class UnknownStrategy(ValueError):
    """A task or strategy the live recommender does not have; the message lists them."""


def live_strategies(*, store: Store) -> list[LiveStrategy]:
    """The store's live strategy per task, in LIVE_METHODS order; a task never decided
    gets an unsaved row with the default and NOT_EVALUATED as its reason."""
    found = {s.task: s for s in LiveStrategy.objects.filter(store=store)}
    return [
        found.get(task)
        or LiveStrategy(
            store=store,
            task=task,
            strategy=LIVE_DEFAULTS[task],
            default=LIVE_DEFAULTS[task],
            reason=NOT_EVALUATED,
        )
        for task in LIVE_METHODS
    ]


def record_decisions(
    *, store: Store, decisions: list[Decision], run: EvaluationRun | None, now: dt.datetime
) -> list[LiveStrategy]:
    """Keep each decision as the store's live strategy for its task, with its figures
    and `now`; a task the merchant pinned keeps its pinned strategy (the decision is
    kept beside it, for when it is unpinned)."""
    kept = []
    for decision in decisions:
        live, _ = LiveStrategy.objects.get_or_create(
            store=store,
            task=decision.task,
            defaults={
                "strategy": decision.strategy,
                "default": decision.default,
                "reason": decision.reason,
                "decided_at": now,
            },
        )
        live.default = decision.default
        live.figures = finite(decision.figures)
        live.evaluated_strategy = decision.strategy
        live.evaluated_reason = decision.reason
        live.run = run
        live.decided_at = now
        if not live.pinned:
            live.strategy, live.reason = decision.strategy, decision.reason
        live.save()
        kept.append(live)
    return kept


def pin_strategy(
    *, store: Store, task: str, strategy: str | None, now: dt.datetime
) -> LiveStrategy:
    """Pin `strategy` for the store's `task` (the evaluation no longer changes it);
    None unpins, restoring what the last evaluation chose (or the default). Raises
    UnknownStrategy naming the choices."""
    if task not in LIVE_METHODS:
        raise UnknownStrategy(f"unknown task {task!r}: use one of {', '.join(LIVE_METHODS)}")
    if strategy is not None and strategy not in LIVE_METHODS[task]:
        raise UnknownStrategy(
            f"unknown strategy {strategy!r} for {task}: use one of {', '.join(LIVE_METHODS[task])}"
        )
    with transaction.atomic():
        live, _ = LiveStrategy.objects.select_for_update().get_or_create(
            store=store,
            task=task,
            defaults={
                "strategy": LIVE_DEFAULTS[task],
                "default": LIVE_DEFAULTS[task],
                "reason": NOT_EVALUATED,
                "decided_at": now,
            },
        )
        if strategy is None:
            live.pinned = False
            live.strategy = live.evaluated_strategy or live.default
            live.reason = live.evaluated_reason or NOT_EVALUATED
        else:
            live.pinned = True
            live.strategy = strategy
            live.reason = f"pinned by the merchant on {now:%Y-%m-%d}"
        live.save()
    return live


def evaluate_store(
    *,
    store: Store,
    now: dt.datetime,
    quick: bool = True,
    seconds: float = WORKER_SECONDS,
    memory_mb: float = WORKER_MEMORY_MB,
) -> list[LiveStrategy]:
    """Evaluate the store's own order history (cuts chosen from it, each method under
    the budget), keep the run for the Recommendations page and decide its live
    strategies. Raises evaluation.cuts.NotEnoughHistory when the history is too short."""
    from aftersale.recommendations.evaluation.budget import Budget
    from aftersale.recommendations.evaluation.data import subsample
    from aftersale.recommendations.evaluation.decide import decide
    from aftersale.recommendations.evaluation.run import evaluate, methods
    from aftersale.recommendations.evaluation.store_orders import store_orders

    started = time.perf_counter()
    orders = store_orders(store=store)
    if quick:
        orders = subsample(orders=orders, customers=QUICK_CUSTOMERS, returning=True)
    report = evaluate(
        orders=orders,
        candidates=methods(quick=quick),
        budget=Budget(seconds=seconds, memory_mb=memory_mb),
    )
    assert report.cuts is not None
    run = save_evaluation(
        report=report,
        dataset=f"{store.name} order history",
        store=store,
        cut=report.cuts.test_cut.astype("datetime64[D]").item(),
        validation_cut=report.cuts.validation_cut.astype("datetime64[D]").item(),
        quick=quick,
        seconds=time.perf_counter() - started,
        now=now,
    )
    return record_decisions(store=store, decisions=decide(report=report), run=run, now=now)


def evaluate_due_stores(*, now: dt.datetime) -> list[tuple[Store, str]]:
    """Evaluate every store last evaluated `EVALUATE_EVERY` ago (or never) and decide its
    live strategies; each is claimed first with a conditional UPDATE of its FitRun, so
    of many workers only one runs it. Returns (store, what happened) per store run."""
    from aftersale.recommendations.evaluation.cuts import NotEnoughHistory

    due = FitRun.objects.filter(
        Q(evaluated_at__isnull=True) | Q(evaluated_at__lte=now - EVALUATE_EVERY)
    )
    done = []
    for store_id in due.order_by("store_id").values_list("store_id", flat=True):
        if not due.filter(store_id=store_id).update(evaluated_at=now):
            continue
        store = Store.objects.get(pk=store_id)
        try:
            chosen = evaluate_store(store=store, now=now)
        except NotEnoughHistory as missing:
            done.append((store, f"not evaluated: {missing}"))
            continue
        except (ArithmeticError, LookupError, RuntimeError, ValueError, MemoryError):
            # An evaluation that fails must not stop the worker's sends; the live
            # strategies stay as they were and the next try is a week later.
            logger.exception("evaluating %s failed; its live strategies are unchanged", store.slug)
            done.append((store, "not evaluated: the evaluation failed (see the log)"))
            continue
        done.append((store, "; ".join(f"{s.task}: {s.strategy}" for s in chosen)))
    return done

"""The demo: a real grocery's year of orders, the post-purchase upsell flow backtested
over it in virtual time, and every email delivered to a local SMTP capture server."""

import datetime as dt
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db.models import Max, Min
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aftersale.flows.backtest import BacktestSummary, run_backtest
from aftersale.flows.models import Flow
from aftersale.flows.services import delete_flow, install_library_flow
from aftersale.integrations.completejourney import load_complete_journey
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.delivery.capture import CaptureProcess
from aftersale.messaging.delivery.sending import send_queued_messages
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.orders.models import Order
from aftersale.recommendations.services import fit_recommendations
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

DEMO_STORE_SLUG = "demo"
DEMO_FLOW_SLUG = "post-purchase-upsell"
# The dataset's own year; the demo store "opens" just before its first order.
DATASET_START = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)


@dataclass
class DemoResult:
    """What the demo did and how fast."""

    store: Store
    flow: Flow
    outbox: Path
    emails_captured: int = 0
    backtest: BacktestSummary = field(default_factory=BacktestSummary)
    send_seconds: float = 0.0
    finished_at: dt.datetime = DATASET_START
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def emails_per_second(self) -> float:
        return self.backtest.messages_delivered / self.send_seconds if self.send_seconds else 0.0

    @property
    def peak_memory_mb(self) -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_demo(*, console: Console, outbox: Path, limit_households: int | None = None) -> DemoResult:
    """Load the Complete Journey (once), install the default flow afresh, backtest it over
    the whole year sending over SMTP to a capture server writing .eml files to `outbox`."""
    stages: dict[str, float] = {}
    with _stage(console, "Loading The Complete Journey", stages):
        store = _demo_store(console, limit_households)
    with _stage(console, "Installing templates and the post-purchase upsell flow", stages):
        install_default_templates(store=store, now=DATASET_START)
        delete_flow(store=store, slug=DEMO_FLOW_SLUG)
        flow = install_library_flow(store=store, slug=DEMO_FLOW_SLUG, now=DATASET_START)
    with _stage(console, "Fitting recommendations", stages):
        fit = fit_recommendations(store=store)
        console.print(
            f"  {fit.pairs:,} bought-together pairs from {fit.baskets:,} baskets, "
            f"{fit.customer_picks:,} discovery picks, {fit.intervals:,} repurchase intervals"
        )
    result = DemoResult(store=store, flow=flow, outbox=outbox)
    with _stage(console, "Backtesting the flow over 2017 and sending", stages):
        _backtest_and_send(console, result)
    result.stage_seconds = stages
    result.emails_captured = sum(1 for _ in outbox.glob("*.eml"))
    return result


def _demo_store(console: Console, limit_households: int | None) -> Store:
    store = Store.objects.filter(slug=DEMO_STORE_SLUG).first()
    if store and Order.objects.filter(store=store).exists():
        console.print("  already loaded; reusing it (delete var/ to load afresh)")
        return store
    store = store or create_store(
        name="Complete Journey Grocer",
        slug=DEMO_STORE_SLUG,
        now=DATASET_START,
        time_zone="America/Chicago",
        website_url="https://shop.example.com",
        from_email="hello@grocer.example.com",
        physical_address="84 Market Street, Cincinnati, OH 45202, USA",
    )
    with _progress(console) as progress:
        task = progress.add_task("orders", total=None)
        load_complete_journey(
            store=store,
            now=DATASET_START,
            limit_households=limit_households,
            on_total=lambda total: progress.update(task, total=total),
            progress=lambda n: progress.update(task, advance=n),
        )
    return store


def _backtest_and_send(console: Console, result: DemoResult) -> None:
    span = Order.objects.filter(store=result.store).aggregate(
        first=Min("placed_at"), last=Max("placed_at")
    )
    start = span["first"] - dt.timedelta(seconds=1)
    clock = VirtualClock(start)
    shutil.rmtree(result.outbox, ignore_errors=True)
    with CaptureProcess(result.outbox) as server, _progress(console) as progress:
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend",
            host=server.host,
            port=server.port,
            username="",
            password="",
            use_tls=False,
            use_ssl=False,
        )
        days = progress.add_task("virtual days", total=(span["last"] - start).days + 10)
        deliver = _timed_delivery(result, connection)
        with use_clock(clock), connection:
            result.backtest = run_backtest(
                flow=result.flow,
                start=start,
                end=span["last"],
                clock=clock,
                deliver=deliver,
                on_tick=lambda now: progress.update(days, completed=(now - start).days),
            )
        result.finished_at = clock.now()


def _timed_delivery(result: DemoResult, connection: BaseEmailBackend):  # type: ignore[no-untyped-def]
    def deliver(now: dt.datetime) -> int:
        started = time.perf_counter()
        summary = send_queued_messages(now=now, store=result.store, connection=connection)
        if summary.total:  # hours with nothing to send say nothing about sending speed
            result.send_seconds += time.perf_counter() - started
        return summary.delivered

    return deliver


class _stage:
    """Print a stage's title, then its duration when it ends."""

    def __init__(self, console: Console, title: str, into: dict[str, float]) -> None:
        self.console, self.title, self.into = console, title, into

    def __enter__(self) -> None:
        self.console.print(f"[bold]{self.title}[/bold]")
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.into[self.title] = seconds = time.perf_counter() - self.started
        self.console.print(f"  done in {seconds:.1f}s")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )

import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from aftersale.demo.services import run_demo
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.reports.rendering import report_tables, wide_console
from aftersale.reports.selectors import flow_report


class Command(BaseCommand):
    help = (
        "Load The Complete Journey, backtest the post-purchase upsell flow over it in "
        "virtual time, deliver its emails to a local SMTP capture server, print the report."
    )
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--households", type=int, help="load only this many households")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        console = wide_console()
        call_command("migrate", verbosity=0)
        outbox = settings.DATA_DIR / "demo" / "outbox"
        result = run_demo(console=console, outbox=outbox, limit_households=options["households"])
        backtest = result.backtest
        console.print(report_tables(flow_report(flow=result.flow, now=result.finished_at)))
        console.print(
            f"\nReplayed {backtest.orders_replayed:,} orders; {backtest.enrolled:,} customers "
            f"entered the flow; {result.emails_captured:,} emails delivered to the capture "
            f"server in {outbox}\n"
            f"Send stage: {result.emails_per_second:,.0f} emails/s; "
            f"wall time {time.perf_counter() - started:.0f}s; "
            f"peak memory {result.peak_memory_mb:,.0f} MB\n"
            f"JSON report: .venv/bin/aftersale report {result.flow.slug} --format json"
        )

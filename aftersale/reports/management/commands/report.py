import datetime as dt
import json
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aftersale.flows.models import Flow
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.lib.clock import now
from aftersale.reports.rendering import report_tables, wide_console
from aftersale.reports.selectors import BadRange, flow_report, report_range
from aftersale.reports.store import store_report
from aftersale.reports.store_rendering import store_console, store_report_tables
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"{text!r} is not a date: give it as YYYY-MM-DD") from error


class Command(BaseCommand):
    help = (
        "Print a flow's report: started, exited, completed, purchased, revenue, per step; "
        "of the journeys that started from --since (included) to --until (not included). "
        "Without FLOW, the store's report: repeat-purchase rate within 12 months, median "
        "days to the second order, revenue per customer by first-order month (customers "
        "whose first order falls in the range)."
    )
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "flow",
            nargs="?",
            help="the flow's slug, e.g. post-purchase-upsell; left out: the store's report",
        )
        parser.add_argument("--store", help="store slug (default: the only store)")
        parser.add_argument("--format", choices=["table", "json"], default="table")
        parser.add_argument(
            "--since", help="first day of the range, YYYY-MM-DD in the store's time zone"
        )
        parser.add_argument("--until", help="the day after the range, YYYY-MM-DD (not included)")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        if options["flow"] is None:
            self._store_report(store, options)
            return
        flow = Flow.objects.filter(store=store, slug=options["flow"]).first()
        if flow is None:
            slugs = ", ".join(Flow.objects.filter(store=store).values_list("slug", flat=True))
            raise CommandError(f"no flow {options['flow']!r} in {store.slug}; flows: {slugs}")
        since, until = _range(store, options)
        report = flow_report(flow=flow, now=now(), since=since, until=until)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            # self.stdout, so that call_command(stdout=...) gets the table too.
            wide_console(cast(IO[str], self.stdout)).print(report_tables(report))

    def _store_report(self, store: Store, options: dict[str, Any]) -> None:
        """`aftersale report [--store SLUG]`: the store-level report of the customers
        whose first order falls in [--since, --until)."""
        since, until = _range(store, options)
        report = store_report(store=store, now=now(), since=since, until=until)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            store_console(cast(IO[str], self.stdout)).print(store_report_tables(report))


def _range(store: Store, options: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The [--since, --until) the options give, as moments in the store's time zone."""
    try:
        return report_range(
            store=store,
            since=_day(options["since"]) if options["since"] else None,
            until=_day(options["until"]) if options["until"] else None,
        )
    except BadRange as error:
        raise CommandError(f"--until: {error}") from error

"""`aftersale attribute [--store SLUG] [--since DATE]`: credit the store's orders to the
emails that earned them anew (after an upgrade, or after the windows changed)."""

import datetime as dt
from argparse import ArgumentParser
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from aftersale.attribution.services import attribute_orders
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.orders.models import Order
from aftersale.stores.commands import store_for_command

_CHUNK = 5_000


class Command(BaseCommand):
    help = "Credit a store's orders to the emails that earned them, with its windows now."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--store", default=None, help="store slug (default: the only one)")
        parser.add_argument(
            "--since", default=None, help="only orders placed from this day (YYYY-MM-DD)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        orders = Order.objects.filter(store=store).order_by("placed_at", "pk")
        if options["since"]:
            try:
                day = dt.date.fromisoformat(options["since"])
            except ValueError as error:
                raise CommandError(f"--since {options['since']!r} is not a date") from error
            start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(store.time_zone))
            orders = orders.filter(placed_at__gte=start)
        ids = list(orders.values_list("pk", flat=True))
        credited = 0
        columns = (TextColumn("crediting orders"), BarColumn(), MofNCompleteColumn())
        console = Console(stderr=True)
        with Progress(*columns, console=console, disable=not ids) as bar:
            task = bar.add_task("orders", total=len(ids))
            for low in range(0, len(ids), _CHUNK):
                chunk = ids[low : low + _CHUNK]
                credited += attribute_orders(store=store, order_ids=chunk)
                bar.advance(task, len(chunk))
        self.stdout.write(f"{credited:,} of {len(ids):,} orders credited to an email")

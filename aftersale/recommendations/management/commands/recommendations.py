"""`aftersale recommendations fit [--store SLUG]` refits a store's recommendations;
`aftersale recommendations rules FILE.csv [--store SLUG]` replaces its merchant rules;
`aftersale recommendations live [--store SLUG] [--task T (--pin STRATEGY | --unpin)]`
shows the strategies live per task and why, or pins one."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.recommendations.live import UnknownStrategy, live_strategies, pin_strategy
from aftersale.recommendations.services import InvalidRules, fit_recommendations, load_rules
from aftersale.recommendations.strategies import LIVE_METHODS
from aftersale.stores.commands import store_for_command


class Command(BaseCommand):
    help = "Fit a store's recommendations, or load its merchant rules from CSV."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        fit = actions.add_parser("fit", help="refit on the orders placed until now")
        rules = actions.add_parser(
            "rules", help="replace the complement/upgrade rules (docs/recommendations.md)"
        )
        rules.add_argument("file", type=Path)
        live = actions.add_parser(
            "live", help="show the strategy live per task and why, or pin one (--task, --pin)"
        )
        live.add_argument("--task", choices=list(LIVE_METHODS))
        pinning = live.add_mutually_exclusive_group()
        pinning.add_argument(
            "--pin",
            metavar="STRATEGY",
            help="; ".join(f"{t}: {', '.join(m)}" for t, m in LIVE_METHODS.items()),
        )
        pinning.add_argument("--unpin", action="store_true", help="let the evaluation choose again")
        for sub in (fit, rules, live):
            sub.add_argument("--store", dest="store", default=None, help="store slug")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        if options["action"] == "fit":
            summary = fit_recommendations(store=store, until=clock.now())
            self.stdout.write(
                f"{store.slug}: {summary.pairs:,} bought-together and {summary.similar_pairs:,} "
                f"similar-history pairs, {summary.customer_picks:,} discovery picks, "
                f"{summary.intervals:,} repurchase intervals from {summary.baskets:,} baskets "
                f"in {summary.seconds:.1f} s"
            )
            return
        if options["action"] == "live":
            self._live(store=store, options=options)
            return
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            count = load_rules(store=store, path=path)
        except InvalidRules as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{store.slug}: {count} rules loaded")

    def _live(self, *, store: Any, options: dict[str, Any]) -> None:
        if options["pin"] or options["unpin"]:
            if not options["task"]:
                raise CommandError("--pin and --unpin need --task")
            try:
                pin_strategy(
                    store=store,
                    task=options["task"],
                    strategy=None if options["unpin"] else options["pin"],
                    now=clock.now(),
                )
            except UnknownStrategy as error:
                raise CommandError(str(error)) from error
        for live in live_strategies(store=store):
            when = f", decided {live.decided_at:%Y-%m-%d}" if live.decided_at else ""
            self.stdout.write(
                f"{store.slug} {live.task}: {live.strategy}{' (pinned)' if live.pinned else ''}"
                f"{when}; {live.reason}"
            )

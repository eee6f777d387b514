"""`aftersale recommendations fit [--store SLUG]` refits a store's recommendations;
`aftersale recommendations rules FILE.csv [--store SLUG]` replaces its merchant rules."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.recommendations.services import InvalidRules, fit_recommendations, load_rules
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
        for sub in (fit, rules):
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
            if summary.picks_skipped:
                self.stdout.write(f"no discovery picks: {summary.picks_skipped}")
            return
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            count = load_rules(store=store, path=path)
        except InvalidRules as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{store.slug}: {count} rules loaded")

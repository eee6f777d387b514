"""`aftersale coupons list` shows a store's coupon programs with what their codes did;
`aftersale coupons generate PROGRAM --count N` adds N codes tied to nobody yet (handed
out first); `aftersale coupons export PROGRAM [--file F]` writes its codes as CSV."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.coupons.export import export_lines
from aftersale.coupons.models import CouponProgram
from aftersale.coupons.selectors import program_by_slug, program_summaries
from aftersale.coupons.services import MAX_BULK, InvalidCount, generate_codes
from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store


class Command(BaseCommand):
    help = "List a store's coupon programs, generate codes in bulk, export codes as CSV."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="programs, terms, issued and redeemed")
        generate = actions.add_parser("generate", help="add codes tied to nobody yet")
        generate.add_argument("program", help="the program's slug (see `coupons list`)")
        generate.add_argument("--count", type=int, required=True, help=f"1 to {MAX_BULK:,}")
        export = actions.add_parser("export", help="the program's codes as CSV")
        export.add_argument("program", help="the program's slug (see `coupons list`)")
        export.add_argument("--file", type=Path, help="write here (default: standard output)")
        for sub in (listing, generate, export):
            sub.add_argument("--store", default=None, help="store slug (default: the only one)")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        if options["action"] == "list":
            for summary in program_summaries(store=store):
                plural = "" if summary.unassigned == 1 else "s"
                self.stdout.write(
                    f"{summary.program.slug:<24} {summary.terms}; redeemed "
                    f"{summary.redemption_rate_text}; flagged {summary.flagged:,}; "
                    f"{summary.unassigned:,} code{plural} not handed out"
                )
        elif options["action"] == "generate":
            program = _program(store, options["program"])
            try:
                added = generate_codes(program=program, count=options["count"], now=clock.now())
            except InvalidCount as error:
                raise CommandError(str(error)) from error
            self.stdout.write(f"Added {added:,} codes to {program.slug}")
        else:
            program = _program(store, options["program"])
            if options["file"] is None:
                for line in export_lines(program=program):
                    self.stdout.write(line, ending="")
                return
            try:
                with options["file"].open("w", encoding="utf-8", newline="") as out:
                    out.writelines(export_lines(program=program))
            except OSError as error:
                raise CommandError(f"{options['file']}: {error}") from error


def _program(store: Store, slug: str) -> CouponProgram:
    program = program_by_slug(store=store, slug=slug)
    if program is None:
        slugs = ", ".join(s.program.slug for s in program_summaries(store=store)) or "none"
        raise CommandError(f"no coupon program {slug!r} in {store.slug}; programs: {slugs}")
    return program

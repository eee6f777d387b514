"""`aftersale deadletters list [--store SLUG]` and `aftersale deadletters replay ID`: the
platform webhook deliveries that could not be read or applied, and trying one again."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.integrations.platforms.deliveries import (
    NotADeadLetter,
    dead_letters,
    replay_delivery,
)
from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.stores.commands import store_for_command


class Command(BaseCommand):
    help = "List the webhook deliveries that failed (dead letters), or replay one."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="the latest failed deliveries, newest first")
        listing.add_argument("--store", default=None, help="store slug (default: every store)")
        listing.add_argument("--limit", type=int, default=50)
        replay = actions.add_parser("replay", help="process a failed delivery again, now")
        replay.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            store = store_for_command(options["store"]) if options["store"] else None
            letters = list(dead_letters(store=store, limit=options["limit"]))
            if not letters:
                self.stdout.write("no dead letters")
            for d in letters:
                self.stdout.write(
                    f"{d.pk}\t{d.received_at:%Y-%m-%d %H:%M:%S}\t{d.platform}\t{d.topic}\t{d.error}"
                )
            return
        try:
            delivery = replay_delivery(delivery_id=options["id"], now=clock.now)
        except NotADeadLetter as error:
            raise CommandError(str(error)) from error
        detail = delivery.outcome if delivery.status == "done" else delivery.error
        self.stdout.write(f"{delivery.pk}\t{delivery.status}\t{detail}")
        if delivery.status != "done":
            raise CommandError(f"delivery {delivery.pk} failed again", returncode=1)

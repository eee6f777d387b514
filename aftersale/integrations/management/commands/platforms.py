"""`aftersale platforms connect shopify|woocommerce --store SLUG`: keep the secret that
signs the store's webhooks (read from standard input, or AFTERSALE_<PLATFORM>_WEBHOOK_SECRET),
and print the URL to give the platform (under AFTERSALE_PUBLIC_URL, as Connect shows it)."""

import os
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.integrations.platforms.connections import webhook_url
from aftersale.integrations.platforms.deliveries import PLATFORMS, connect_platform
from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.stores.commands import store_for_command


class Command(BaseCommand):
    help = "Connect a store to its shop platform's webhooks (docs/platforms.md)."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        connect = actions.add_parser("connect", help="keep the webhook secret of a platform")
        connect.add_argument("platform", choices=sorted(PLATFORMS))
        connect.add_argument("--store", default=None, help="store slug")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        platform = options["platform"]
        variable = f"AFTERSALE_{platform.upper()}_WEBHOOK_SECRET"
        secret = os.environ.get(variable, "")
        if not secret and not sys.stdin.isatty():
            secret = sys.stdin.readline()
        if not secret.strip():
            raise CommandError(f"give the webhook secret on standard input or in {variable}")
        connect_platform(store=store, platform=platform, secret=secret, now=clock.now())
        self.stdout.write(
            f"{platform} webhooks of {store.slug}: POST "
            f"{webhook_url(store=store, platform=platform)} (topics: docs/platforms.md)"
        )

"""`aftersale platforms connect shopify|woocommerce --store SLUG [--shop DOMAIN]`: keep
the secret that signs the store's webhooks (read from standard input, or
AFTERSALE_<PLATFORM>_WEBHOOK_SECRET), and print the URL to give the platform (under
AFTERSALE_PUBLIC_URL, as Connect shows it); with `--shop`, also the Shopify shop's domain
and its admin API access token (AFTERSALE_SHOPIFY_ADMIN_TOKEN, or its _FILE), for
`aftersale platforms sync-catalog --store SLUG`, which reads the shop's whole catalog, and
for the worker, which from then on creates each coupon code in the shop before it is
mailed (integrations/platforms/coupon_sync)."""

import os
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from aftersale.catalog.aliases import shared_aliases
from aftersale.integrations.platforms.catalog_sync import (
    CatalogUnavailable,
    SyncReport,
    connect_shopify_admin,
    sync_shopify_catalog,
)
from aftersale.integrations.platforms.connections import webhook_url
from aftersale.integrations.platforms.deliveries import PLATFORMS, connect_platform
from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.lib.env import env_secret
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store


class Command(BaseCommand):
    help = "Connect a store to its shop platform's webhooks (docs/platforms.md)."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        connect = actions.add_parser("connect", help="keep the webhook secret of a platform")
        connect.add_argument("platform", choices=sorted(PLATFORMS))
        connect.add_argument("--store", default=None, help="store slug")
        connect.add_argument(
            "--shop",
            default="",
            help="Shopify: the shop's domain (x.myshopify.com), for the catalog sync and "
            "the coupon codes created in the shop; "
            "the admin API token comes from AFTERSALE_SHOPIFY_ADMIN_TOKEN",
        )
        sync = actions.add_parser("sync-catalog", help="read the Shopify shop's whole catalog")
        sync.add_argument("--store", default=None, help="store slug")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        if options["action"] == "sync-catalog":
            self._sync(store)
            return
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
        if options["shop"]:
            self._admin_access(store, platform, options["shop"])

    def _admin_access(self, store: Store, platform: str, shop: str) -> None:
        if platform != "shopify":
            raise CommandError("--shop is for Shopify")
        token = env_secret("AFTERSALE_SHOPIFY_ADMIN_TOKEN")
        if not token:
            raise CommandError("give the admin API access token in AFTERSALE_SHOPIFY_ADMIN_TOKEN")
        try:
            connect_shopify_admin(store=store, shop_domain=shop, admin_token=token)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"admin API of {shop} kept: aftersale platforms sync-catalog; "
            "coupon codes are created in the shop before they are mailed"
        )

    def _sync(self, store: Store) -> None:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=Console(stderr=True)
        ) as bar:
            task = bar.add_task("reading the catalog", total=None)

            def progress(report: SyncReport) -> None:
                bar.update(task, description=f"{report.products:,} products, {report.pages} pages")
                if not bar.console.is_terminal:
                    self.stderr.write(f"{report.products} products read ({report.pages} pages)")

            try:
                report = sync_shopify_catalog(store=store, progress=progress)
            except CatalogUnavailable as error:
                raise CommandError(str(error)) from error
        self.stdout.write(
            f"{report.products} products of {store.slug} written from {report.pages} pages"
        )
        if shared := shared_aliases(store=store):
            self.stdout.write(
                f"{len(shared)} SKU(s) are variants of several products, so orders keyed by "
                f"them stay apart (docs/platforms.md): {', '.join(shared[:20])}"
            )

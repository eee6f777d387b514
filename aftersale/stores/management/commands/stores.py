"""`aftersale stores create NAME [--slug ...]` makes a store; `aftersale stores list` lists
them. The first step on a new installation, before importing orders or creating keys."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.stores.models import Store
from aftersale.stores.selectors import all_stores
from aftersale.stores.services import InvalidStore, create_store_from_input

# The settings `stores create` takes, by option; the rest keep their defaults and can be
# changed in the dashboard or the admin.
SETTINGS = {
    "--slug": "the store's name in URLs and --store options (default: made from NAME)",
    "--currency": "ISO 4217 code of its prices (default USD)",
    "--time-zone": "e.g. Europe/Paris: quiet hours and send times (default UTC)",
    "--locale": "language and formats of its emails, e.g. fr_FR (default en_US)",
    "--from-email": "the address its emails come from",
    "--reply-to": "where replies go",
    "--website-url": "its shop's address",
    "--physical-address": "the postal address every marketing email shows",
}


class Command(BaseCommand):
    help = "Create a store, or list the stores."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="every store with its slug and settings")
        create = actions.add_parser("create", help="a new store")
        create.add_argument("name", help='the shop\'s name, e.g. "Little Gift Shop"')
        for option, help_text in SETTINGS.items():
            create.add_argument(option, default=None, help=help_text)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list()
        else:
            self._create(options)

    def _list(self) -> None:
        stores = list(all_stores())
        if not stores:
            self.stdout.write("no store yet: create one with `aftersale stores create NAME`")
        for store in stores:
            self.stdout.write(
                f"{store.slug:<24} {store.currency} {store.time_zone:<20} {store.name}"
            )

    def _create(self, options: dict[str, Any]) -> None:
        names = (option.removeprefix("--").replace("-", "_") for option in SETTINGS)
        given = {name: options[name] for name in names if options[name] is not None}
        try:
            store = create_store_from_input(name=options["name"], now=clock.now(), **given)
        except InvalidStore as error:
            raise CommandError(f"no store created: {error}") from error
        self._created(store)

    def _created(self, store: Store) -> None:
        self.stdout.write(f"Created store {store.name!r} (slug {store.slug}).")
        if not store.physical_address:
            self.stdout.write(
                "Its marketing emails wait until it has a postal address (the law wants one "
                "in every marketing email): give it in the dashboard's Settings, or create "
                "the store with --physical-address."
            )
        self.stdout.write(
            "Next: import its orders with "
            f"`aftersale import orders FILE.csv --store {store.slug}`, and give its shop "
            f"an API key with `aftersale keys create --store {store.slug} --name NAME`."
        )

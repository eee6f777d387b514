"""`aftersale keys create --name NAME` gives a store a new API key and prints it, the only
time it is shown; `keys list` shows the store's keys (never their hashes); `keys revoke
NAME-or-ID` makes the API refuse a key from now on."""

import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store
from aftersale.stores.selectors import ApiKeyNotFound, api_key_named, api_keys
from aftersale.stores.services import InvalidApiKeyName, create_api_key, revoke_api_key


class Command(BaseCommand):
    help = "Create, list or revoke a store's API keys."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="a new key, printed once")
        create.add_argument("--name", required=True, help="what uses it, e.g. shopify")
        listing = actions.add_parser("list", help="the store's keys, revoked ones too")
        revoke = actions.add_parser("revoke", help="refuse a key from now on")
        revoke.add_argument("key", help="the key's name or id (see `aftersale keys list`)")
        for sub in (create, listing, revoke):
            sub.add_argument("--store", default=None, help="store slug (default: the only one)")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        if options["action"] == "create":
            self._create(store, options["name"])
        elif options["action"] == "list":
            self._list(store)
        else:
            self._revoke(store, options["key"])

    def _create(self, store: Store, name: str) -> None:
        try:
            key, raw_key = create_api_key(store=store, name=name, now=clock.now())
        except InvalidApiKeyName as error:
            raise CommandError(str(error)) from error
        self.stdout.write(raw_key)
        self.stderr.write(
            f"API key {key.name!r} (id {key.pk}) of store {store.slug}: copy it now, it is "
            "not shown again. Send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`."
        )

    def _list(self, store: Store) -> None:
        keys = list(api_keys(store=store))
        if not keys:
            self.stdout.write(f"store {store.slug} has no API key: `aftersale keys create`")
            return
        self.stdout.write(f"{'id':>5}  {'name':<24} {'created':<17} {'last used':<17} revoked")
        for key in keys:
            self.stdout.write(
                f"{key.pk:>5}  {key.name:<24} {_minute(key.created_at):<17} "
                f"{_minute(key.last_used_at) or 'never':<17} {_minute(key.revoked_at) or '-'}"
            )

    def _revoke(self, store: Store, name_or_id: str) -> None:
        try:
            key = api_key_named(store=store, name_or_id=name_or_id)
        except ApiKeyNotFound as error:
            raise CommandError(str(error)) from error
        already = key.revoked_at is not None
        key = revoke_api_key(key=key, now=clock.now())
        state = "was already revoked" if already else "revoked"
        self.stdout.write(
            f"API key {key.name!r} (id {key.pk}) {state} at {_minute(key.revoked_at)}"
        )


def _minute(moment: dt.datetime | None) -> str:
    """`moment` in UTC to the minute, "" for none."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if moment else ""

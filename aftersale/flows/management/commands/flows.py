"""`aftersale flows list` shows a store's flows and the ready flows it can install;
`aftersale flows install SLUG` installs a ready flow (with the email templates it needs)
in one step; `aftersale flows install SLUG --file FLOW.json` installs the store's own
definition, and on an existing flow makes a new version that only new journeys use."""

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.flows.definition import InvalidFlowDefinition
from aftersale.flows.models import FlowStatus
from aftersale.flows.selectors import flow_summaries, library_flow_slugs
from aftersale.flows.services import install_flow, install_library_flow
from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store


class Command(BaseCommand):
    help = "List a store's flows, or install a ready flow or a flow definition."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="installed flows and ready flows")
        install = actions.add_parser("install", help="install a ready flow or FLOW.json")
        install.add_argument("slug", help="e.g. win-back (see `aftersale flows list`)")
        install.add_argument("--file", type=Path, help="a flow definition (JSON) of your own")
        install.add_argument("--draft", action="store_true", help="install without starting it")
        for sub in (listing, install):
            sub.add_argument("--store", default=None, help="store slug (default: the only one)")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        if options["action"] == "list":
            self._list(store)
        else:
            self._install(store, options)

    def _list(self, store: Store) -> None:
        installed = flow_summaries(store=store)
        for flow in installed:
            self.stdout.write(
                f"{flow.slug:<24} {flow.status:<7} v{flow.version:<3} "
                f"{flow.active:>7,} in flow  {flow.name}"
            )
        ready = [slug for slug in library_flow_slugs() if slug not in {f.slug for f in installed}]
        if ready:
            self.stdout.write("ready to install: " + ", ".join(ready))

    def _install(self, store: Store, options: dict[str, Any]) -> None:
        now, slug = clock.now(), options["slug"]
        status = FlowStatus.DRAFT if options["draft"] else FlowStatus.LIVE
        install_default_templates(store=store, now=now)
        try:
            if options["file"]:
                definition = json.loads(options["file"].read_text(encoding="utf-8"))
                flow = install_flow(
                    store=store, slug=slug, definition=definition, now=now, status=status
                )
            else:
                flow = install_library_flow(store=store, slug=slug, now=now, status=status)
        except (InvalidFlowDefinition, LookupError, OSError, ValueError) as error:
            raise CommandError(f"{slug}: {error}") from error
        version = flow.versions.count()
        self.stdout.write(f"Installed {flow.slug} ({flow.status}, version {version})")

"""`aftersale templates list [--store SLUG]` lists a store's email templates and their
languages; `aftersale templates preview SLUG --customer EXTERNAL_ID [--locale L]
[--html FILE | --text]` renders one for a real customer without sending or tracking;
`aftersale templates send-test SLUG --customer EXTERNAL_ID --to ADDRESS` sends that
preview to ADDRESS through the configured transport, subject marked "[Test]";
`aftersale templates save SLUG --body FILE.mjml.j2 [--subject S] [--name N] [--kind K]`
stores a template of the store's own once it renders in every language under the limits
of a send (messaging/rendering/editing.py), and `aftersale templates check SLUG` says
whether a stored one still does."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersale.customers.models import Customer
from aftersale.lib import clock
from aftersale.lib.checks import CHECKS_BUT_URLS
from aftersale.messaging.delivery.sending import send_test_email
from aftersale.messaging.delivery.transports.base import Outcome
from aftersale.messaging.models import EmailTemplate
from aftersale.messaging.outbox.selectors import store_templates, template_by_slug
from aftersale.messaging.rendering.editing import (
    TemplateRejected,
    TemplateText,
    save_template,
    template_problems,
)
from aftersale.messaging.rendering.previews import preview_template, previewable_template
from aftersale.messaging.rendering.render import TemplateError
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store


class Command(BaseCommand):
    help = "List a store's email templates, or preview one for a customer."
    requires_system_checks = CHECKS_BUT_URLS

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="slug, kind, languages and name of each")
        preview = actions.add_parser("preview", help="render a template for a customer")
        preview.add_argument("--locale", default="", help="e.g. de or ar (default: theirs)")
        output = preview.add_mutually_exclusive_group()
        output.add_argument("--html", type=Path, help="write the HTML part to this file")
        output.add_argument("--text", action="store_true", help="print the plain-text part")
        test = actions.add_parser("send-test", help="email a template's preview to yourself")
        test.add_argument("--to", required=True, help="the address to send the test to")
        save = actions.add_parser("save", help="store a template of your own, checked first")
        save.add_argument("--body", type=Path, required=True, help="the MJML + Jinja2 file")
        save.add_argument("--subject", help="the subject line (default: the template's)")
        save.add_argument("--preheader", help="the preview text (default: the template's)")
        save.add_argument("--name", help="its name in listings (default: the template's)")
        save.add_argument("--kind", help="e.g. thank_you, offer (default: the template's)")
        check = actions.add_parser("check", help="render a stored template in every language")
        for sub in (preview, test):
            sub.add_argument("--customer", required=True, help="the customer's external id")
        for sub in (preview, test, save, check):
            sub.add_argument("slug", help="the template's slug, e.g. thank-you")
        for sub in (listing, preview, test, save, check):
            sub.add_argument("--store", default=None, help="store slug (default: the only one)")

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_for_command(options["store"])
        if options["action"] == "list":
            self._list(store)
        elif options["action"] == "preview":
            self._preview(store, options)
        elif options["action"] == "save":
            self._save(store, options)
        elif options["action"] == "check":
            self._check(store, options["slug"])
        else:
            self._send_test(store, options)

    def _list(self, store: Store) -> None:
        for template in store_templates(store=store):
            languages = ",".join([template.locale, *sorted(template.translations or {})])
            self.stdout.write(
                f"{template.slug:<22} {template.kind:<20} {languages:<12} {template.name}"
            )

    def _preview(self, store: Store, options: dict[str, Any]) -> None:
        now = clock.now()
        template, customer = _template_and_customer(store, options)
        try:
            email = preview_template(
                template=template, customer=customer, now=now, locale=options["locale"]
            )
        except TemplateError as error:
            raise CommandError(str(error)) from error
        heading = f"Subject: {email.subject}\nPreheader: {email.preheader}\n"
        if options["text"]:
            self.stdout.write(f"{heading}\n{email.text}", ending="")
        elif options["html"]:
            options["html"].write_text(email.html, encoding="utf-8")
            self.stdout.write(f"{heading}HTML written to {options['html']}")
        else:
            self.stdout.write(email.html)

    def _send_test(self, store: Store, options: dict[str, Any]) -> None:
        template, customer = _template_and_customer(store, options)
        try:
            result = send_test_email(
                template=template, customer=customer, to=options["to"], now=clock.now()
            )
        except TemplateError as error:
            raise CommandError(str(error)) from error
        if result.outcome != Outcome.ACCEPTED:
            raise CommandError(f"test email {result.outcome}: {result.detail}")
        self.stdout.write(f"Test email {template.slug} sent to {options['to']}")

    def _save(self, store: Store, options: dict[str, Any]) -> None:
        try:
            saved = save_template(
                store=store, slug=options["slug"], text=_text(store, options), now=clock.now()
            )
        except TemplateRejected as refused:
            raise CommandError(
                f"{options['slug']} not saved:\n" + "\n".join(refused.problems)
            ) from refused
        self.stdout.write(f"Template {saved.slug} saved ({saved.kind}, {saved.name})")

    def _check(self, store: Store, slug: str) -> None:
        template = template_by_slug(store=store, slug=slug)
        if template is None:
            raise CommandError(f"no template {slug!r} in {store.slug}")
        problems = template_problems(template=template, now=clock.now())
        if problems:
            raise CommandError(f"{slug} cannot be sent:\n" + "\n".join(problems))
        self.stdout.write(f"Template {slug} renders in every language")


def _text(store: Store, options: dict[str, Any]) -> TemplateText:
    """The text `save` stores: the options given over the stored template's, if any."""
    try:
        body = options["body"].read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {options['body']}: {error}") from error
    stored = template_by_slug(store=store, slug=options["slug"])
    given = {name: options[name] for name in ("subject", "preheader", "name", "kind")}
    if stored is None:
        missing = [f"--{name}" for name in ("subject", "name", "kind") if given[name] is None]
        if missing:
            raise CommandError(f"a new template needs {', '.join(missing)}")
    fields = {
        name: given[name] if given[name] is not None else getattr(stored, name, "")
        for name in given
    }
    locale = stored.locale if stored else "en"
    translations = stored.translations if stored else {}
    return TemplateText(body_mjml=body, locale=locale, translations=translations, **fields)


def _template_and_customer(store: Store, options: dict[str, Any]) -> tuple[EmailTemplate, Customer]:
    template = previewable_template(store=store, slug=options["slug"], now=clock.now())
    if template is None:
        raise CommandError(f"no template {options['slug']!r} in {store.slug} or the library")
    customer = Customer.objects.filter(store=store, external_id=options["customer"]).first()
    if customer is None:
        raise CommandError(f"no customer with external id {options['customer']!r} in {store.slug}")
    return template, customer

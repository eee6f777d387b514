"""Previews: any template rendered for a real customer, untracked, with samples for what
the customer lacks; and the `aftersale templates` command."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message
from aftersale.messaging.rendering.previews import (
    SAMPLE_CODE,
    latest_buyer,
    preview_customer,
    preview_customers,
    preview_subjects,
    preview_template,
    previewable_template,
)
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.messaging.tests.factories import (
    make_customer,
    make_order,
    make_product,
    make_scenario,
)
from aftersale.messaging.tests.smtp_servers import RefusingHandler, serving
from aftersale.stores.models import Store
from aftersale.stores.services import create_store
from aftersale.tracking.models import Event


def test_a_preview_for_a_new_customer_shows_samples_and_records_nothing(
    store: Store, clock: VirtualClock
) -> None:
    scenario = make_scenario(store, now=clock.now())
    newcomer = make_customer(store, now=clock.now(), first_name="Grace")
    email = preview_template(
        template=scenario.templates["cross-sell-offer"], customer=newcomer, now=clock.now()
    )
    assert "Grace" in email.text and SAMPLE_CODE in email.text
    assert "Chocolate Chip Cookies" in email.text  # picks from the store's products
    thanks = preview_template(
        template=scenario.templates["thank-you"], customer=newcomer, now=clock.now()
    )
    assert "Whole Milk" in thanks.text  # and a sample order of them
    assert email.links == () and "/c/" not in email.html and "/o/" not in email.html
    assert not Message.objects.filter(customer=newcomer).exists()
    assert not Event.objects.exists()


def test_a_preview_uses_the_customers_own_order_and_coupon(
    store: Store, clock: VirtualClock
) -> None:
    scenario = make_scenario(store, now=clock.now())
    email = preview_template(
        template=scenario.templates["offer-reminder"], customer=scenario.customer, now=clock.now()
    )
    assert scenario.coupon.code in email.text and SAMPLE_CODE not in email.text


def test_a_preview_can_be_asked_for_in_another_language(store: Store, clock: VirtualClock) -> None:
    scenario = make_scenario(store, now=clock.now())
    email = preview_template(
        template=scenario.templates["thank-you"],
        customer=scenario.customer,
        now=clock.now(),
        locale="de",
    )
    assert email.subject == "Vielen Dank für Ihre Bestellung, Ada!"


def test_library_templates_can_be_previewed_before_they_are_installed(
    store: Store, clock: VirtualClock
) -> None:
    make_product(store, name="Oat Milk")
    template = previewable_template(store=store, slug="win-back", now=clock.now())
    assert template is not None and template.pk is None
    customer = make_customer(store, now=clock.now(), first_name="Lin")
    assert (
        "We miss you, Lin"
        in preview_template(template=template, customer=customer, now=clock.now()).subject
    )
    assert previewable_template(store=store, slug="no-such-template", now=clock.now()) is None


def test_the_templates_command_lists_and_previews(
    store: Store, clock: VirtualClock, tmp_path: Path
) -> None:
    scenario = make_scenario(store, now=clock.now())
    listing = StringIO()
    call_command("templates", "list", stdout=listing)
    assert "thank-you" in listing.getvalue() and "en,ar,de" in listing.getvalue()
    text = StringIO()
    call_command(
        "templates",
        "preview",
        "thank-you",
        "--customer",
        scenario.customer.external_id,
        "--locale",
        "ar",
        "--text",
        stdout=text,
    )
    assert text.getvalue().startswith("Subject: شكرًا لطلبك يا Ada!")
    page = tmp_path / "preview.html"
    call_command(
        "templates",
        "preview",
        "order-confirmation",
        "--customer",
        scenario.customer.external_id,
        "--html",
        str(page),
        stdout=StringIO(),
    )
    assert page.read_text().lower().startswith("<!doctype html>")


def test_the_templates_command_sends_a_test_email_to_the_merchant(
    store: Store, clock: VirtualClock
) -> None:
    scenario = make_scenario(store, now=clock.now())
    handler = RefusingHandler()
    with serving(handler) as port, override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port):
        out = _send_test(scenario.customer.external_id)
    assert "sent to merchant@shop.example.com" in out
    (_, content), *others = handler.received
    sent = message_from_bytes(content)
    assert not others and sent["To"] == "merchant@shop.example.com"
    assert sent["Subject"].startswith("[Test] Thank you for your order")
    assert not Message.objects.filter(customer=scenario.customer, template__slug="thank-you")


def test_a_test_email_to_a_dead_server_fails_with_the_reason(
    store: Store, clock: VirtualClock
) -> None:
    scenario = make_scenario(store, now=clock.now())
    with override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=1), pytest.raises(CommandError):
        _send_test(scenario.customer.external_id)


def _send_test(customer: str) -> str:
    out = StringIO()
    call_command(
        "templates",
        "send-test",
        "thank-you",
        "--customer",
        customer,
        "--to",
        "merchant@shop.example.com",
        stdout=out,
    )
    return out.getvalue()


def test_customers_to_preview_for_are_found_by_email_name_or_id_latest_buyers_first(
    store: Store, clock: VirtualClock
) -> None:
    mug = make_product(store, name="Mug")
    early = make_customer(store, now=clock.now(), first_name="Grace", email="grace@example.org")
    late = make_customer(store, now=clock.now(), first_name="Ada", email="ada@example.org")
    never = make_customer(store, now=clock.now(), first_name="Alan", email="alan@example.org")
    make_order(store, early, now=clock.now() - dt.timedelta(days=2), lines=[(mug, 1)])
    make_order(store, late, now=clock.now() - dt.timedelta(days=1), lines=[(mug, 1)])

    assert preview_customers(store=store) == [late, early, never]
    assert preview_customers(store=store, query="GRACE") == [early]
    assert preview_customers(store=store, query=never.external_id) == [never]
    assert preview_customers(store=store, query="a", limit=1) == [never]  # newest first
    assert latest_buyer(store=store, now=clock.now()) == late
    assert preview_customer(store=store, customer_id=None, now=clock.now()) == late
    assert preview_customer(store=store, customer_id=early.pk, now=clock.now()) == early


def test_no_customer_of_another_store_is_previewed_for(store: Store, clock: VirtualClock) -> None:
    other = create_store(name="Other", slug="other", now=clock.now())
    theirs = make_customer(other, now=clock.now())

    assert preview_customer(store=store, customer_id=theirs.pk, now=clock.now()) is None
    assert preview_customers(store=store, query=theirs.email) == []
    assert latest_buyer(store=store, now=clock.now()) is None


def test_the_subjects_of_many_templates_are_rendered_for_one_customer(
    store: Store, clock: VirtualClock
) -> None:
    templates = install_default_templates(store=store, now=clock.now())
    ada = make_customer(store, now=clock.now(), first_name="Ada")

    subjects = preview_subjects(templates=templates, customer=ada, now=clock.now())

    assert subjects["thank-you"] == "Thank you for your order, Ada!"
    assert subjects["upsell"] == "Ada, ready for an upgrade?"
    assert set(subjects) == {t.slug for t in templates}

"""The template editor through Django's test client: the list by type and language, a
template edited and saved only when every language renders, a sandbox or syntax error
shown with its line next to the field keeping what was typed, the live preview for a
chosen real customer, and a test email sent to a local SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from aftersale.customers.models import Customer
from aftersale.flows.services import install_flow
from aftersale.flows.tests.helpers import upsell_definition
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.messaging.models import EmailTemplate, Message
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.messaging.tests.factories import make_customer, make_order, make_product
from aftersale.stores.models import Store
from aftersale.stores.services import create_store

BROKEN_BODY = "<mjml><mj-body>\n<mj-section><mj-column>\n<mj-text>{{ customer.first_name }</mj-text>\n</mj-column></mj-section>\n</mj-body></mjml>"  # noqa: E501


@pytest.fixture(autouse=True)
def _virtual_time(clock: VirtualClock) -> Iterator[None]:
    with use_clock(clock):
        yield


@pytest.fixture
def signed_in(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


@pytest.fixture
def buyers(store: Store, clock: VirtualClock) -> tuple[Customer, Customer]:
    """Two customers who bought: Grace before Ada, so Ada is the latest buyer."""
    mug = make_product(store, name="Enamel Mug", price="12.00")
    grace = make_customer(store, now=clock.now(), first_name="Grace", email="grace@example.org")
    ada = make_customer(store, now=clock.now(), first_name="Ada", email="ada@example.org")
    make_order(store, grace, now=clock.now() - dt.timedelta(days=3), lines=[(mug, 1)])
    make_order(store, ada, now=clock.now() - dt.timedelta(days=1), lines=[(mug, 1)])
    return ada, grace


def _url(name: str, store: Store, *args: str) -> str:
    return reverse(f"dashboard:{name}", args=[store.slug, *args])


def _form(template: EmailTemplate, **changes: str) -> dict[str, str]:
    fields = {
        "lang": template.locale,
        "name": template.name,
        "subject": template.subject,
        "preheader": template.preheader,
        "body": template.body_mjml,
    }
    return {**fields, **changes}


def _thank_you(store: Store, clock: VirtualClock) -> EmailTemplate:
    install_default_templates(store=store, now=clock.now())
    return EmailTemplate.objects.get(store=store, slug="thank-you")


def test_the_list_groups_templates_by_type_with_languages_and_the_flows_using_them(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    install_default_templates(store=store, now=clock.now())
    install_flow(store=store, slug="upsell", definition=upsell_definition(), now=clock.now())

    page = signed_in.get(_url("templates", store)).content.decode()

    assert "Thank You" in page and "Order Confirmation" in page
    row = page[page.index('data-template="thank-you"') :]
    row = row[: row.index("</li>")]
    assert ">en<" in row and ">de<" in row and ">ar<" in row
    assert 'Upsell <span class="muted">(live)</span>' in row
    assert "Thank you for your order, Ada!" in row  # the subject as the latest buyer reads it
    assert _url("template-edit", store, "thank-you") in row
    assert 'aria-current="page">Templates' in page


def test_a_library_template_the_store_has_not_saved_is_listed_and_opens_in_the_editor(
    signed_in: Client, store: Store, buyers: tuple[Customer, Customer]
) -> None:
    listing = signed_in.get(_url("templates", store)).content.decode()
    assert 'data-template="thank-you"' in listing and "library" in listing

    editor = signed_in.get(_url("template-edit", store, "thank-you"))

    assert editor.status_code == 200
    assert "srcdoc=" in editor.content.decode()
    assert not EmailTemplate.objects.filter(store=store).exists()


def test_the_editor_previews_for_the_latest_buyer_in_a_sandboxed_frame(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    ada, _ = buyers
    _thank_you(store, clock)

    answer = signed_in.get(_url("template-edit", store, "thank-you"))

    page = answer.content.decode()
    assert f'<option value="{ada.pk}" selected>' in page
    assert 'sandbox=""' in page and "allow-scripts" not in page
    frame = html.unescape(page[page.index('srcdoc="') : page.index("></iframe>")])
    assert "Ada" in frame and "Enamel Mug" in frame
    policy = answer["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" in policy.split("style-src")[1]


def test_the_live_preview_renders_what_was_typed_for_the_chosen_customer(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    _, grace = buyers
    template = _thank_you(store, clock)

    answer = signed_in.post(
        _url("template-preview", store, "thank-you"),
        _form(
            template,
            subject="Hello {{ customer.first_name }}, thanks!",
            customer=str(grace.pk),
        ),
        headers={"HX-Request": "true"},
    )

    page = answer.content.decode()
    assert answer.status_code == 200
    assert '<span class="inbox-subject">Hello Grace, thanks!</span>' in page
    assert "Grace" in html.unescape(page)
    template.refresh_from_db()
    assert template.subject != "Hello {{ customer.first_name }}, thanks!"  # nothing saved
    assert not Message.objects.exists()


def test_a_syntax_error_is_shown_with_its_line_next_to_the_body_in_the_preview(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    template = _thank_you(store, clock)

    answer = signed_in.post(
        _url("template-preview", store, "thank-you"), _form(template, body=BROKEN_BODY)
    )

    page = answer.content.decode()
    assert 'id="body-error" hx-swap-oob="true"' in page
    body_error = page[page.index('id="body-error"') :]
    assert "Line 3:" in body_error
    assert "{{ customer.first_name }&lt;/mj-text&gt;" in body_error  # the line's own text


def test_saving_a_change_stores_it_and_says_so(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    template = _thank_you(store, clock)

    answer = signed_in.post(
        _url("template-edit", store, "thank-you"),
        _form(template, subject="Thanks, {{ customer.first_name }}!"),
        follow=True,
    )

    template.refresh_from_db()
    assert template.subject == "Thanks, {{ customer.first_name }}!"
    assert "every language renders" in answer.content.decode()


def test_saving_a_library_template_makes_the_stores_own_copy(
    signed_in: Client, store: Store, buyers: tuple[Customer, Customer]
) -> None:
    editor = signed_in.get(_url("template-edit", store, "upsell"))
    assert editor.status_code == 200
    shipped = editor.context["template"]

    signed_in.post(_url("template-edit", store, "upsell"), _form(shipped, subject="An upgrade"))

    saved = EmailTemplate.objects.get(store=store, slug="upsell")
    assert saved.subject == "An upgrade" and saved.body_mjml == shipped.body_mjml


def test_a_save_that_does_not_render_is_refused_with_the_line_keeping_what_was_typed(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    template = _thank_you(store, clock)
    before = template.body_mjml

    answer = signed_in.post(
        _url("template-edit", store, "thank-you"),
        _form(template, subject="Typed subject", body=BROKEN_BODY),
    )

    page = answer.content.decode()
    assert answer.status_code == 400
    assert 'value="Typed subject"' in page
    assert html.escape(BROKEN_BODY) in page  # the body as typed, in the textarea
    body_error = page[page.index('id="body-error"') :]
    assert "Line 3:" in body_error and "syntax error" in body_error
    assert 'id="field-body"' in page and 'aria-invalid="true"' in page
    template.refresh_from_db()
    assert template.body_mjml == before and template.subject != "Typed subject"


def test_a_sandbox_violation_is_refused_naming_the_line(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    template = _thank_you(store, clock)
    escape = "Hi\n{{ ''.__class__.__mro__ }}"

    answer = signed_in.post(_url("template-edit", store, "thank-you"), _form(template, body=escape))

    page = answer.content.decode()
    assert answer.status_code == 400
    body_error = page[page.index('id="body-error"') :]
    assert "Line 2:" in body_error and "sandbox" in body_error


def test_a_translation_is_edited_on_its_own_and_saved_into_the_template(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    template = _thank_you(store, clock)
    german = template.translations["de"]
    editor = signed_in.get(_url("template-edit", store, "thank-you") + "?lang=de")
    assert html.escape(german["subject"]) in editor.content.decode()

    signed_in.post(
        _url("template-edit", store, "thank-you"),
        {
            "lang": "de",
            "name": template.name,
            "subject": "Danke!",
            "preheader": german["preheader"],
            "body": german["body_mjml"],
        },
    )

    saved = EmailTemplate.objects.get(pk=template.pk)
    assert saved.translations["de"]["subject"] == "Danke!"
    assert saved.subject == template.subject  # the English text as it was


def test_the_customer_search_finds_customers_by_email_name_or_id(
    signed_in: Client, store: Store, buyers: tuple[Customer, Customer]
) -> None:
    ada, grace = buyers
    url = _url("template-customers", store, "thank-you")

    by_name = signed_in.get(url, {"q": "grac"}).content.decode()
    by_id = signed_in.get(url, {"q": ada.external_id}).content.decode()

    assert grace.email in by_name and ada.email not in by_name
    assert ada.email in by_id and grace.email not in by_id
    assert signed_in.get(url, {"q": "nobody"}).content.decode().count("No customer") == 1


def test_a_test_email_of_what_was_typed_reaches_the_address_typed(
    signed_in: Client,
    store: Store,
    clock: VirtualClock,
    buyers: tuple[Customer, Customer],
    tmp_path: Path,
    settings: Settings,
) -> None:
    template = _thank_you(store, clock)
    with CaptureServer(tmp_path) as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        answer = signed_in.post(
            _url("template-send-test", store, "thank-you"),
            _form(template, subject="Typed for {{ customer.first_name }}", to="Me@Shop.Example"),
            headers={"HX-Request": "true"},
        )
        assert server.count == 1
    assert "Test email sent to me@shop.example" in answer.content.decode()
    (saved,) = tmp_path.glob("*.eml")
    received = email.message_from_bytes(saved.read_bytes())
    assert received["To"] == "me@shop.example"
    assert received["Subject"] == "[Test] Typed for Ada"
    assert not Message.objects.exists()


def test_a_test_email_to_no_address_is_refused_next_to_the_field(
    signed_in: Client, store: Store, clock: VirtualClock, buyers: tuple[Customer, Customer]
) -> None:
    template = _thank_you(store, clock)

    answer = signed_in.post(
        _url("template-send-test", store, "thank-you"), _form(template, to="not an address")
    )

    assert answer.status_code == 422
    assert 'id="to-error"' in answer.content.decode()


def test_another_stores_templates_are_not_found(
    signed_in: Client, store: Store, clock: VirtualClock
) -> None:
    other = create_store(name="Other", slug="other", now=clock.now())
    install_default_templates(store=other, now=clock.now())

    assert signed_in.get(_url("templates", other)).status_code == 404
    assert signed_in.get(_url("template-edit", other, "thank-you")).status_code == 404
    assert signed_in.post(_url("template-preview", other, "thank-you"), {}).status_code == 404
    assert signed_in.get(_url("template-edit", store, "no-such-template")).status_code == 404


def test_a_test_email_the_relay_does_not_take_says_why_in_the_page(
    signed_in: Client,
    store: Store,
    clock: VirtualClock,
    buyers: tuple[Customer, Customer],
    settings: Settings,
) -> None:
    template = _thank_you(store, clock)
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nobody listens there

    answer = signed_in.post(
        _url("template-send-test", store, "thank-you"),
        _form(template, to="me@shop.example"),
        headers={"HX-Request": "true"},
    )

    page = answer.content.decode()
    assert answer.status_code == 200  # htmx swaps the answer in: the reason is shown
    assert "Not sent (unavailable)" in page and 'class="error"' in page

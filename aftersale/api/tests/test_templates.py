"""Specification of the template endpoints: list, read, revise (stored only once every
language renders, a 422 naming the language, field and line otherwise) and a preview for
one of the store's customers, nothing tracked."""

import datetime as dt
import json

import pytest
from django.test import Client

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import EmailTemplate, Message
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.messaging.tests.factories import make_customer, make_order, make_product
from aftersale.stores.services import create_api_key

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
BROKEN = "<mjml><mj-body>\n<mj-section><mj-column>\n<mj-text>{% if x %}</mj-text>\n</mj-column></mj-section>\n</mj-body></mjml>"  # noqa: E501


@pytest.fixture(autouse=True)
def _virtual_time():
    with use_clock(VirtualClock(T0)):
        yield


@pytest.fixture
def key(store) -> str:
    install_default_templates(store=store, now=T0)
    return create_api_key(store=store, name="test", now=T0)[1]


def _call(client: Client, key: str, method: str, path: str, body: object = None):
    send = getattr(client, method)
    if body is None:
        return send(f"/api/v1/{path}", headers={"X-API-Key": key})
    return send(
        f"/api/v1/{path}",
        json.dumps(body),
        content_type="application/json",
        headers={"X-API-Key": key},
    )


def test_the_stores_templates_are_listed_with_their_languages(client, key):
    listed = _call(client, key, "get", "templates").json()

    thank_you = next(t for t in listed if t["slug"] == "thank-you")
    assert thank_you["kind"] == "thank_you"
    assert thank_you["languages"] == ["en", "ar", "de"]
    assert [t["slug"] for t in listed] == sorted(t["slug"] for t in listed)


def test_one_template_is_read_with_every_part_and_translation(client, key):
    body = _call(client, key, "get", "templates/thank-you").json()

    stored = EmailTemplate.objects.get(slug="thank-you")
    assert body["body_mjml"] == stored.body_mjml
    assert body["translations"]["de"]["subject"] == stored.translations["de"]["subject"]


def test_a_template_the_store_does_not_have_is_not_found(client, key):
    answer = _call(client, key, "get", "templates/no-such")

    assert answer.status_code == 404
    assert answer.json()["detail"][0]["loc"] == ["path", "slug"]


def test_a_revised_template_is_stored_and_read_back(client, key):
    stored = _call(client, key, "get", "templates/thank-you").json()

    answer = _call(
        client,
        key,
        "put",
        "templates/thank-you",
        {"subject": "Thanks, {{ store.name }}", "body_mjml": stored["body_mjml"]},
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["subject"] == "Thanks, {{ store.name }}"
    template = EmailTemplate.objects.get(slug="thank-you")
    assert template.subject == "Thanks, {{ store.name }}"
    assert template.translations["de"]["subject"] == stored["translations"]["de"]["subject"]
    assert template.preheader == ""  # what was sent, not what was stored


def test_a_template_that_does_not_render_is_refused_with_its_language_and_line(client, key):
    before = EmailTemplate.objects.get(slug="thank-you").body_mjml

    answer = _call(
        client, key, "put", "templates/thank-you", {"subject": "Hi", "body_mjml": BROKEN}
    )

    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "body_mjml"]
    assert error["ctx"]["locale"] == "en" and error["ctx"]["line"] == 3
    assert error["ctx"]["text"] == "<mj-text>{% if x %}</mj-text>"
    assert error["msg"].startswith("en body line 3:")
    assert EmailTemplate.objects.get(slug="thank-you").body_mjml == before


def test_a_broken_translation_is_refused_at_its_own_path(client, key):
    stored = _call(client, key, "get", "templates/thank-you").json()
    translations = {**stored["translations"], "de": {"subject": "{{ oops(", "body_mjml": "x"}}

    answer = _call(
        client,
        key,
        "put",
        "templates/thank-you",
        {
            "subject": stored["subject"],
            "body_mjml": stored["body_mjml"],
            "translations": translations,
        },
    )

    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "translations", "de", "subject"]
    assert error["ctx"]["line"] == 1


def test_a_nul_character_in_a_template_is_refused_before_it_reaches_the_database(client, key):
    answer = _call(
        client, key, "put", "templates/thank-you", {"subject": "Hi\u0000", "body_mjml": "x"}
    )

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == "subject"


def test_a_preview_renders_the_template_for_a_customer_without_tracking(client, key, store):
    mug = make_product(store, name="Enamel Mug", price="12.00")
    ada = make_customer(store, now=T0, first_name="Ada")
    make_order(store, ada, now=T0, lines=[(mug, 1)])

    answer = _call(
        client, key, "post", "templates/thank-you/preview", {"customer_id": ada.external_id}
    )

    assert answer.status_code == 200, answer.content
    email = answer.json()
    assert email["subject"] == "Thank you for your order, Ada!"
    assert "Enamel Mug" in email["html"] and "Enamel Mug" in email["text"]
    assert "/t/o/" not in email["html"]  # no open pixel
    assert not Message.objects.exists()


def test_a_preview_in_a_language_of_the_template(client, key, store):
    ada = make_customer(store, now=T0, first_name="Ada")

    answer = _call(
        client,
        key,
        "post",
        "templates/thank-you/preview",
        {"customer_id": ada.external_id, "locale": "de"},
    )

    assert "Ada" in answer.json()["subject"] and "Bestellung" in answer.json()["subject"]


def test_a_preview_for_a_customer_the_store_does_not_have_is_not_found(client, key):
    answer = _call(client, key, "post", "templates/thank-you/preview", {"customer_id": "nobody"})

    assert answer.status_code == 404
    assert answer.json()["detail"][0]["loc"] == ["body", "customer_id"]

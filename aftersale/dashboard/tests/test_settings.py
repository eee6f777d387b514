"""The store's Settings page through Django's test client: an owner changes the settings
(each refused field named next to it, everything typed kept), credentials are stored
encrypted and shown only as their last four characters, a marketer gets a clear 403,
the postal-address banner shows on every store page until the address is set, and
"Send test email" says what the store's relay did with it."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.stores.models import EmailTransport, MemberRole, Store
from aftersale.stores.selectors import transport_settings
from aftersale.stores.services import add_member, create_store, update_store_settings

pytestmark = pytest.mark.django_db
BANNER = "Add your store's postal address in"


@pytest.fixture
def owner(client: Client, merchant: User) -> Client:
    client.force_login(merchant)
    return client


def _form(store: Store, **changes: Any) -> dict[str, Any]:
    """What the page posts for `store` as it is, with `changes`."""
    typed = {
        "name": store.name,
        "from_name": store.from_name,
        "from_email": store.from_email,
        "reply_to": store.reply_to,
        "reply_domain": store.reply_domain,
        "website_url": store.website_url,
        "brand_color": store.brand_color,
        "logo_url": store.logo_url,
        "physical_address": store.physical_address,
        "time_zone": store.time_zone,
        "locale": store.locale,
        "currency": store.currency,
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "smart_sending_hours": "16",
        "attribution_click_days": "5",
        "attribution_open_days": "5",
        "non_product_codes": store.non_product_codes,
        "email_transport": store.email_transport,
        "smtp_host": store.smtp_host,
        "smtp_port": str(store.smtp_port),
        "smtp_security": store.smtp_security,
        "smtp_username": store.smtp_username,
        "smtp_password": "",
        "esp_name": store.esp_name,
        "esp_api_key": "",
    }
    return typed | changes


def _error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', page)
    return found.group(1) if found else ""


def test_the_settings_page_saves_every_setting_an_owner_changes(
    owner: Client, store: Store
) -> None:
    answer = owner.post(
        f"/dashboard/{store.slug}/settings/",
        _form(
            store,
            from_name="Ada at Test Shop",
            reply_domain="replies.shop.example.com",
            brand_color="#AA3300",
            logo_url="https://shop.example.com/logo.png",
            physical_address="2 Rue de Rivoli\n75001 Paris, France",
            time_zone="Europe/Paris",
            locale="fr_FR",
            quiet_hours_start="",
            quiet_hours_end="",
            smart_sending_hours="24",
            attribution_click_days="7",
            attribution_open_days="1",
            non_product_codes="post, fee,POST",
        ),
    )
    assert answer.status_code == 200, answer.content.decode()
    assert "Settings saved." in answer.content.decode()
    store.refresh_from_db()
    assert store.from_name == "Ada at Test Shop"
    assert (store.brand_color, store.time_zone, store.locale) == (
        "#aa3300",
        "Europe/Paris",
        "fr_FR",
    )
    assert (store.quiet_hours_start, store.quiet_hours_end, store.smart_sending_hours) == (
        None,
        None,
        24,
    )
    assert store.physical_address == "2 Rue de Rivoli\n75001 Paris, France"
    assert (store.attribution_click_days, store.attribution_open_days) == (7, 1)
    assert store.non_product_codes == "POST, FEE"  # upper case, each once


def test_settings_page_refuses_a_brand_colour_that_is_not_hex(owner: Client, store: Store) -> None:
    answer = owner.post(
        f"/dashboard/{store.slug}/settings/",
        _form(store, brand_color="red", from_name="Typed and kept"),
    )
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "is not a hex colour such as #1f6feb" in _error_of(page, "brand_color")
    assert 'value="Typed and kept"' in page and 'value="red"' in page
    store.refresh_from_db()
    assert (store.brand_color, store.from_name) == ("#1f6feb", "")


def test_settings_page_names_a_bad_time_zone_locale_and_quiet_hours_together(
    owner: Client, store: Store
) -> None:
    answer = owner.post(
        f"/dashboard/{store.slug}/settings/",
        _form(
            store,
            time_zone="Europe/Pariss",
            locale="klingon",
            quiet_hours_start="25:00",
            quiet_hours_end="",
        ),
    )
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "is not a time zone such as Europe/Paris" in _error_of(page, "time_zone")
    assert "is not a locale such as en_US" in _error_of(page, "locale")
    assert "Enter a valid time" in _error_of(page, "quiet_hours_start")
    assert 'value="Europe/Pariss"' in page


def test_an_smtp_password_is_stored_encrypted_shown_masked_and_kept_when_left_empty(
    owner: Client, store: Store
) -> None:
    smtp = {
        "email_transport": EmailTransport.SMTP,
        "smtp_host": "smtp.example.com",
        "smtp_port": "587",
        "smtp_username": "shop",
    }
    owner.post(f"/dashboard/{store.slug}/settings/", _form(store, **smtp, smtp_password="pw-5678"))
    store.refresh_from_db()
    assert "pw-5678" not in store.smtp_password
    page = owner.get(f"/dashboard/{store.slug}/settings/").content.decode()
    assert "pw-5678" not in page and "Stored: ••••" in page

    owner.post(
        f"/dashboard/{store.slug}/settings/",
        _form(store, **smtp, smtp_password="a-longer-secret-1234"),
    )
    store.refresh_from_db()
    page = owner.get(f"/dashboard/{store.slug}/settings/").content.decode()
    assert "Stored: ••••1234" in page and "a-longer-secret" not in page
    owner.post(
        f"/dashboard/{store.slug}/settings/",
        _form(store, **(smtp | {"smtp_host": "smtp2.example.com"})),
    )
    store.refresh_from_db()
    assert transport_settings(store=store).password == "a-longer-secret-1234"
    assert store.smtp_host == "smtp2.example.com"


def test_a_marketer_is_refused_settings_with_a_clear_message(
    client: Client, store: Store, django_user_model: type[User]
) -> None:
    marketer = django_user_model.objects.create_user(username="mia", password="x")
    add_member(store=store, user=marketer, role=MemberRole.MARKETER)
    client.force_login(marketer)
    for answer in (
        client.get(f"/dashboard/{store.slug}/settings/"),
        client.post(f"/dashboard/{store.slug}/settings/", _form(store, name="Hijacked")),
        client.post(f"/dashboard/{store.slug}/settings/test-email/", {"to": "x@example.com"}),
    ):
        assert answer.status_code == 403
        assert "Only the store's owners can change this" in answer.content.decode()
    store.refresh_from_db()
    assert store.name == "Test Shop"


def test_another_merchants_store_settings_are_not_found(owner: Client, store: Store) -> None:
    other = create_store(name="Other", slug="other", now=store.created_at)
    assert owner.get(f"/dashboard/{other.slug}/settings/").status_code == 404


def test_the_postal_address_banner_shows_on_every_store_page_until_it_is_set(
    owner: Client, store: Store
) -> None:
    update_store_settings(store=store, physical_address="")
    for page in ("settings", "connect", "recommendations"):
        assert BANNER in owner.get(f"/dashboard/{store.slug}/{page}/").content.decode()
    update_store_settings(store=store, physical_address="2 Test Lane, Springfield, USA")
    assert BANNER not in owner.get(f"/dashboard/{store.slug}/connect/").content.decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_send_test_email_delivers_to_the_stores_relay_and_says_so(
    owner: Client, store: Store, tmp_path: Path
) -> None:
    with CaptureServer(tmp_path) as relay:
        update_store_settings(
            store=store,
            email_transport=EmailTransport.SMTP,
            smtp_host="127.0.0.1",
            smtp_port=relay.port,
            smtp_security="none",
        )
        answer = owner.post(
            f"/dashboard/{store.slug}/settings/test-email/",
            {"to": "ada@example.com"},
            headers={"HX-Request": "true"},
        )
    page = answer.content.decode()
    assert (
        f"Delivered to the store&#x27;s SMTP relay 127.0.0.1:{relay.port} for ada@example.com"
        in page
    )
    assert "<html" not in page  # htmx gets only the answer
    sent = (tmp_path / "000001.eml").read_text()
    assert "Subject: Test email from Test Shop" in sent and "To: ada@example.com" in sent


def test_send_test_email_says_the_connection_was_refused_at_host_and_port(
    owner: Client, store: Store
) -> None:
    port = _free_port()
    update_store_settings(
        store=store,
        email_transport=EmailTransport.SMTP,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
    )
    answer = owner.post(f"/dashboard/{store.slug}/settings/test-email/", {"to": "ada@example.com"})
    page = answer.content.decode()
    assert f"Connection refused at 127.0.0.1:{port}" in page
    assert "Not sent." in page


def test_settings_page_refuses_an_attribution_window_beyond_ninety_days(
    owner: Client, store: Store
) -> None:
    answer = owner.post(
        f"/dashboard/{store.slug}/settings/",
        _form(store, attribution_click_days="91", from_name="Typed and kept"),
    )
    assert answer.status_code == 400
    page = answer.content.decode()
    assert _error_of(page, "attribution_click_days") == "At most 90 days, not 91."
    assert 'value="Typed and kept"' in page
    store.refresh_from_db()
    assert store.attribution_click_days == 5

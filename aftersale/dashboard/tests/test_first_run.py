"""The first run of a new installation: with no login at all, the dashboard and its login
page lead to "create your account and store"; the form makes a superuser owning the first
store, signs in and lands on the store's settings; then the page is gone. A signed-in
user creates another store and owns it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from aftersale.stores.models import MemberRole, Store
from aftersale.stores.selectors import role_in_store

pytestmark = pytest.mark.django_db

FIRST_RUN = {
    "username": "ada",
    "email": "ada@example.com",
    "password": "a long enough password",
    "name": "Little Gift Shop",
    "currency": "EUR",
    "time_zone": "Europe/Paris",
    "locale": "fr_FR",
}


def test_an_empty_installation_leads_from_the_dashboard_and_login_to_the_first_run(
    client: Client,
) -> None:
    assert client.get("/dashboard/", follow=True).redirect_chain[-1][0] == "/dashboard/setup/"
    assert client.get("/dashboard/login/").headers["Location"] == "/dashboard/setup/"
    page = client.get("/dashboard/setup/")
    assert page.status_code == 200
    assert "Create your account and store" in page.content.decode()


def test_the_first_run_makes_the_login_and_store_signs_in_and_lands_on_settings(
    client: Client,
) -> None:
    answer = client.post("/dashboard/setup/", FIRST_RUN)

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard/little-gift-shop/settings/"
    user = User.objects.get()
    store = Store.objects.get()
    assert user.is_superuser and user.email == "ada@example.com"
    assert (store.currency, store.time_zone, store.locale) == ("EUR", "Europe/Paris", "fr_FR")
    assert role_in_store(user=user, store=store) == MemberRole.OWNER
    settings = client.get(answer.headers["Location"])
    assert settings.status_code == 200
    assert "Add your store's postal address in" in settings.content.decode()
    assert client.get("/dashboard/setup/").status_code == 404


def test_the_first_run_names_each_bad_field_and_keeps_what_was_typed(client: Client) -> None:
    typed = FIRST_RUN | {"time_zone": "Paris", "currency": "EURO", "password": "short"}
    answer = client.post("/dashboard/setup/", typed)

    assert answer.status_code == 400
    page = answer.content.decode()
    assert "&#x27;Paris&#x27; is not a time zone such as Europe/Paris." in page
    assert "is not an ISO 4217 code" in page
    assert "at least 8 characters" in page
    assert 'value="Little Gift Shop"' in page and 'value="ada@example.com"' in page
    assert not User.objects.exists() and not Store.objects.exists()


def test_once_a_login_exists_the_first_run_is_gone(client: Client, store: Store) -> None:
    User.objects.create_user(username="someone", password="x")
    assert client.get("/dashboard/setup/").status_code == 404
    assert client.post("/dashboard/setup/", FIRST_RUN).status_code == 404
    assert client.get("/dashboard/login/").status_code == 200


def test_a_signed_in_user_creates_another_store_and_owns_it(
    client: Client, merchant: User, store: Store
) -> None:
    client.force_login(merchant)
    refused = client.post("/dashboard/stores/new/", {"name": "Second", "currency": "XX"})
    assert refused.status_code == 400
    assert 'value="Second"' in refused.content.decode()

    answer = client.post(
        "/dashboard/stores/new/",
        {"name": "Second Shop", "currency": "GBP", "time_zone": "Europe/London", "locale": "en_GB"},
    )
    assert answer.headers["Location"] == "/dashboard/second-shop/settings/"
    second = Store.objects.get(slug="second-shop")
    assert role_in_store(user=merchant, store=second) == MemberRole.OWNER
    assert client.get("/dashboard/second-shop/settings/").status_code == 200

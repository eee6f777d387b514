"""Every command's --store option (the named store, the only store, or an error saying
what to do), and the commands that make stores and their API keys."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aftersale.lib.clock import VirtualClock
from aftersale.stores.commands import store_for_command
from aftersale.stores.models import Store
from aftersale.stores.selectors import active_api_key, api_key_named
from aftersale.stores.services import hash_api_key


def test_without_a_slug_the_only_store_is_meant(store: Store) -> None:
    assert store_for_command(None) == store
    assert store_for_command(store.slug) == store


def test_an_unknown_slug_or_a_choice_of_stores_is_a_command_error(
    store: Store, clock: VirtualClock
) -> None:
    with pytest.raises(CommandError, match="no store with slug 'nope'"):
        store_for_command("nope")
    Store.objects.create(slug="second", name="Second", created_at=clock.now())
    with pytest.raises(CommandError, match="pass --store SLUG"):
        store_for_command(None)


@pytest.mark.django_db
def test_with_no_store_yet_the_error_says_how_to_make_one() -> None:
    with pytest.raises(CommandError, match="aftersale stores create NAME"):
        store_for_command(None)


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_stores_create_makes_a_store_with_the_given_settings_and_says_what_comes_next() -> None:
    out, _ = _run(
        "stores",
        "create",
        "Little Gift Shop",
        "--currency",
        "EUR",
        "--time-zone",
        "Europe/Paris",
        "--from-email",
        "hi@gifts.example.com",
    )

    store = Store.objects.get()
    assert (store.slug, store.currency, store.time_zone, store.from_email) == (
        "little-gift-shop",
        "EUR",
        "Europe/Paris",
        "hi@gifts.example.com",
    )
    assert "aftersale keys create --store little-gift-shop" in out
    assert "little-gift-shop" in _run("stores", "list")[0]
    assert "Its marketing emails wait until it has a postal address" in out


@pytest.mark.django_db
def test_stores_create_keeps_the_postal_address_given_and_then_says_nothing_of_it() -> None:
    out, _ = _run("stores", "create", "Gifts", "--physical-address", "9 Real Road, Leeds")
    assert Store.objects.get().physical_address == "9 Real Road, Leeds"
    assert "postal address" not in out


def test_stores_create_names_every_bad_setting_and_creates_nothing(store: Store) -> None:
    with pytest.raises(CommandError) as error:
        _run(
            "stores",
            "create",
            "Again",
            "--slug",
            store.slug,
            "--currency",
            "XYZ",
            "--time-zone",
            "Mars/Base",
            "--from-email",
            "nope",
        )
    for problem in ("slug:", "from_email:", "currency: 'XYZ'", "time_zone: 'Mars/Base'"):
        assert problem in str(error.value)
    assert Store.objects.count() == 1


def test_keys_create_prints_the_key_once_and_list_shows_it_without_its_hash(
    store: Store,
) -> None:
    raw_key, note = _run("keys", "create", "--store", store.slug, "--name", "shopify")
    raw_key = raw_key.strip()

    assert active_api_key(raw_key=raw_key) is not None
    assert "not shown again" in note
    listing, _ = _run("keys", "list")
    assert "shopify" in listing and "never" in listing
    assert raw_key not in listing and hash_api_key(raw_key) not in listing


def test_keys_revoke_by_name_or_id_refuses_the_key_from_then_on(store: Store) -> None:
    raw_key = _run("keys", "create", "--name", "shopify")[0].strip()
    other = _run("keys", "create", "--name", "erp")[0].strip()
    erp = api_key_named(store=store, name_or_id="erp")

    assert "revoked" in _run("keys", "revoke", "shopify")[0]
    assert "revoked" in _run("keys", "revoke", str(erp.pk))[0]

    assert active_api_key(raw_key=raw_key) is None and active_api_key(raw_key=other) is None
    with pytest.raises(CommandError, match="no API key named 'nope'"):
        _run("keys", "revoke", "nope")

"""API keys: many a store, named, stored hashed, shown once, revocable, their last use
noted at most once a minute. A store's settings, validated field by field, its email
credentials stored encrypted; the first run; members and their invitations."""

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftersale.lib.clock import VirtualClock
from aftersale.stores.credentials import UnreadableCredential, decrypt, masked
from aftersale.stores.models import ApiKey, EmailTransport, MemberRole, Store
from aftersale.stores.selectors import (
    active_api_key,
    api_key_named,
    api_keys,
    installation_is_new,
    role_in_store,
    store_members,
    transport_settings,
)
from aftersale.stores.services import (
    InstallationNotNew,
    InvalidApiKeyName,
    InvalidInput,
    InvalidStore,
    InvitationError,
    LastOwner,
    accept_invitation,
    add_member,
    create_api_key,
    create_owned_store,
    hash_api_key,
    invite_member,
    read_invitation,
    record_api_key_use,
    remove_member,
    revoke_api_key,
    set_up_installation,
    update_store_settings,
)

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def test_a_store_has_many_named_keys_kept_only_as_their_hash(
    store: Store, clock: VirtualClock
) -> None:
    shop, raw_shop = create_api_key(store=store, name="Shopify", now=clock.now())
    erp, raw_erp = create_api_key(store=store, name="ERP", now=clock.now())

    assert raw_shop != raw_erp
    assert raw_shop.startswith(f"as_{store.slug}_")
    assert shop.key_hash == hash_api_key(raw_shop)
    stored = ApiKey.objects.values_list("name", "key_hash", "created_at", "revoked_at")
    assert raw_shop not in str(list(stored)) and raw_erp not in str(list(stored))
    assert list(api_keys(store=store)) == [shop, erp]
    assert active_api_key(raw_key=raw_erp) == erp


def test_a_key_name_is_required_and_unique_among_the_keys_in_use(
    store: Store, clock: VirtualClock
) -> None:
    with pytest.raises(InvalidApiKeyName, match="1 to 100 characters"):
        create_api_key(store=store, name="  ", now=clock.now())
    first, _ = create_api_key(store=store, name="Shopify", now=clock.now())
    with pytest.raises(InvalidApiKeyName, match="already has an API key named 'Shopify'"):
        create_api_key(store=store, name="Shopify", now=clock.now())

    revoke_api_key(key=first, now=clock.now())
    second, _ = create_api_key(store=store, name="Shopify", now=clock.now())

    assert api_key_named(store=store, name_or_id="Shopify") == second
    assert api_key_named(store=store, name_or_id=str(first.pk)) == first


def test_a_revoked_key_is_no_longer_active_and_keeps_its_first_revocation_time(
    store: Store, clock: VirtualClock
) -> None:
    key, raw = create_api_key(store=store, name="old", now=clock.now())
    revoked_at = clock.advance(dt.timedelta(hours=1))
    revoke_api_key(key=key, now=revoked_at)
    revoke_api_key(key=key, now=clock.advance(dt.timedelta(hours=1)))

    assert active_api_key(raw_key=raw) is None
    assert ApiKey.objects.get().revoked_at == revoked_at


def test_a_keys_use_is_written_at_most_once_a_minute(store: Store, clock: VirtualClock) -> None:
    key, _ = create_api_key(store=store, name="busy", now=clock.now())
    first_use = clock.advance(dt.timedelta(seconds=5))
    record_api_key_use(key=key, now=first_use)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            record_api_key_use(key=key, now=clock.advance(dt.timedelta(seconds=5)))
    assert len(queries) == 0
    assert ApiKey.objects.get().last_used_at == first_use

    later = clock.advance(dt.timedelta(seconds=10))
    record_api_key_use(key=ApiKey.objects.get(), now=later)
    assert ApiKey.objects.get().last_used_at == later


def test_an_unknown_key_name_says_which_store_has_none(store: Store) -> None:
    with pytest.raises(LookupError, match="store 'test-shop' has no API key named 'nope'"):
        api_key_named(store=store, name_or_id="nope")


# --- settings, the first run, members and invitations ---------------------------------


def test_settings_refuse_a_brand_colour_that_is_not_hex_and_change_nothing(store: Store) -> None:
    with pytest.raises(InvalidStore) as refused:
        update_store_settings(store=store, brand_color="blue", from_name="Ada's")
    assert set(refused.value.errors) == {"brand_color"}
    assert "hex colour" in refused.value.errors["brand_color"]
    store.refresh_from_db()
    assert (store.brand_color, store.from_name) == ("#1f6feb", "")


def test_settings_name_every_wrong_field_at_once(store: Store) -> None:
    with pytest.raises(InvalidStore) as refused:
        update_store_settings(
            store=store,
            time_zone="Mars/Olympus",
            locale="xx_NOPE",
            from_email="not an address",
            quiet_hours_start=dt.time(22, 0),
            quiet_hours_end=None,
            smart_sending_hours=1000,
        )
    assert set(refused.value.errors) == {
        "time_zone",
        "locale",
        "from_email",
        "quiet_hours_end",
        "smart_sending_hours",
    }


def test_settings_keep_what_was_typed_stripped_and_the_colour_in_lower_case(store: Store) -> None:
    changed = update_store_settings(
        store=store,
        from_name="  Ada from Test Shop ",
        brand_color="#AABBCC",
        physical_address="2 Rue de Rivoli, 75001 Paris, France",
        time_zone="Europe/Paris",
        locale="fr_FR",
        quiet_hours_start=None,
        quiet_hours_end=None,
    )
    store.refresh_from_db()
    assert store.from_name == changed.from_name == "Ada from Test Shop"
    assert store.sender_name == "Ada from Test Shop"
    assert (store.brand_color, store.locale, store.quiet_hours_start) == ("#aabbcc", "fr_FR", None)


def test_smtp_credentials_are_stored_encrypted_shown_masked_and_kept_when_left_empty(
    store: Store,
) -> None:
    update_store_settings(
        store=store,
        email_transport=EmailTransport.SMTP,
        smtp_host="smtp.example.com",
        smtp_port=587,
        smtp_username="shop",
        smtp_password="s3cret-pass-1234",
    )
    store.refresh_from_db()
    assert "s3cret" not in store.smtp_password
    assert masked(store.smtp_password) == "••••1234"
    update_store_settings(store=store, smtp_password="", smtp_host="smtp2.example.com")
    store.refresh_from_db()
    settings_now = transport_settings(store=store)
    assert (settings_now.host, settings_now.password) == ("smtp2.example.com", "s3cret-pass-1234")


def test_a_credential_saved_under_another_secret_key_cannot_be_read(
    store: Store, settings: Any
) -> None:
    update_store_settings(
        store=store, email_transport=EmailTransport.ESP, esp_name="postmark", esp_api_key="tok"
    )
    store.refresh_from_db()
    settings.SECRET_KEY = "another secret key of at least fifty characters, surely enough"
    with pytest.raises(UnreadableCredential, match="enter it again"):
        decrypt(store.esp_api_key)


def test_an_email_service_needs_a_name_anymail_knows_and_a_key(store: Store) -> None:
    with pytest.raises(InvalidStore) as refused:
        update_store_settings(store=store, email_transport=EmailTransport.ESP, esp_name="pigeon")
    assert set(refused.value.errors) == {"esp_name", "esp_api_key"}


def test_the_first_run_makes_a_superuser_owning_the_first_store_and_only_once(db: None) -> None:
    assert installation_is_new()
    user, store = set_up_installation(
        username="ada",
        email="ada@example.com",
        password="long enough password",
        store_name="Little Gift Shop",
        currency="EUR",
        time_zone="Europe/Paris",
        locale="fr_FR",
        now=T0,
    )
    assert user.is_superuser and not installation_is_new()
    assert (store.slug, store.currency) == ("little-gift-shop", "EUR")
    assert role_in_store(user=user, store=store) == MemberRole.OWNER
    with pytest.raises(InstallationNotNew):
        set_up_installation(
            username="eve", email="", password="another password", store_name="X", now=T0
        )


def test_the_first_run_names_each_wrong_field_and_makes_nothing(db: None) -> None:
    with pytest.raises(InvalidInput) as refused:
        set_up_installation(
            username="ada lovelace!",
            email="ada@",
            password="short",
            store_name="",
            currency="EURO",
            time_zone="Paris",
            now=T0,
        )
    assert {"username", "email", "password", "name", "currency", "time_zone"} <= set(
        refused.value.errors
    )
    assert installation_is_new() and not Store.objects.exists()


def test_another_store_gets_a_free_slug_and_its_creator_as_owner(
    store: Store, django_user_model: type[User]
) -> None:
    user = django_user_model.objects.create_user(username="bob", password="x")
    other = create_owned_store(user=user, name="Test Shop", now=T0)
    assert other.slug == "test-shop-2"
    assert role_in_store(user=user, store=other) == MemberRole.OWNER
    assert role_in_store(user=user, store=store) is None


def test_an_invitation_makes_a_new_login_a_member_with_its_role_until_it_expires(
    store: Store, clock: VirtualClock
) -> None:
    invitation = invite_member(
        store=store, email="mia@example.com", role="marketer", now=clock.now()
    )
    member = accept_invitation(
        token=invitation.token, now=clock.now(), username="mia", password="mia's password"
    )
    assert (member.user.email, member.role) == ("mia@example.com", MemberRole.MARKETER)
    with pytest.raises(InvitationError, match="expired"):
        read_invitation(token=invitation.token, now=clock.now() + dt.timedelta(days=8))
    with pytest.raises(InvitationError, match="not valid"):
        read_invitation(token=invitation.token + "x", now=clock.now())


def test_accepting_a_marketer_invitation_does_not_demote_an_owner(
    store: Store, clock: VirtualClock, django_user_model: type[User]
) -> None:
    owner = django_user_model.objects.create_user(username="own", password="x")
    add_member(store=store, user=owner, role=MemberRole.OWNER)
    invitation = invite_member(store=store, email="own@example.com", role="marketer", now=T0)
    assert accept_invitation(token=invitation.token, now=T0, user=owner).role == MemberRole.OWNER


def test_the_last_owner_cannot_be_removed_but_a_marketer_can(
    store: Store, django_user_model: type[User]
) -> None:
    owner = add_member(store=store, user=django_user_model.objects.create_user(username="o"))
    marketer = add_member(
        store=store,
        user=django_user_model.objects.create_user(username="m"),
        role=MemberRole.MARKETER,
    )
    with pytest.raises(LastOwner, match="only owner"):
        remove_member(store=store, member_id=owner.pk)
    remove_member(store=store, member_id=marketer.pk)
    assert [m.user.username for m in store_members(store=store)] == ["o"]

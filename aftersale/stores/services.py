"""Creating stores, their API keys and their dashboard members."""

import datetime as dt
import hashlib
import secrets
import zoneinfo

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.text import slugify

from aftersale.lib.currencies import is_currency_code
from aftersale.stores.models import ApiKey, MemberRole, Store, StoreMember

# How fresh an API key's last_used_at is kept.
API_KEY_USE_RESOLUTION = dt.timedelta(minutes=1)


class InvalidStore(ValueError):
    """A store cannot be made with these settings; the message names each field."""


class InvalidApiKeyName(ValueError):
    """An API key cannot have this name."""


def hash_api_key(raw_key: str) -> str:
    """The stored form of an API key; raw keys are never kept."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_store(*, name: str, now: dt.datetime, slug: str = "", **settings: str) -> Store:
    """Create a store named `name` with the given settings."""
    return Store.objects.create(name=name, slug=slug or slugify(name), created_at=now, **settings)


def create_store_from_input(
    *, name: str, now: dt.datetime, slug: str = "", **settings: str
) -> Store:
    """Create a store from what a merchant typed, as create_store does, after checking
    every value: InvalidStore naming each field that is wrong and why, and nothing made."""
    store = Store(name=name.strip(), slug=slug or slugify(name), created_at=now, **settings)
    problems = _store_problems(store)
    if problems:
        raise InvalidStore(" ".join(problems))
    store.save()
    return store


def _store_problems(store: Store) -> list[str]:
    try:
        store.full_clean()
        problems = []
    except ValidationError as error:
        problems = [
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        ]
    if not is_currency_code(store.currency):
        problems.append(f"currency: {store.currency!r} is not an ISO 4217 code such as EUR.")
    if store.time_zone not in zoneinfo.available_timezones():
        problems.append(f"time_zone: {store.time_zone!r} is not a time zone such as Europe/Paris.")
    return problems


def create_api_key(*, store: Store, name: str, now: dt.datetime) -> tuple[ApiKey, str]:
    """A new API key of `store` named `name`, and the raw key, which is kept nowhere and so
    can be shown only this once. InvalidApiKeyName when the name is empty, too long or
    taken by another key of the store still in use."""
    name = name.strip()
    limit = ApiKey._meta.get_field("name").max_length or 0
    if not name or len(name) > limit:
        raise InvalidApiKeyName(f"an API key's name needs 1 to {limit} characters, not {name!r}")
    if ApiKey.objects.filter(store=store, name=name, revoked_at__isnull=True).exists():
        raise InvalidApiKeyName(
            f"store {store.slug!r} already has an API key named {name!r}: choose another name "
            "or revoke that key first"
        )
    raw_key = f"as_{store.slug}_{secrets.token_urlsafe(24)}"
    key = ApiKey.objects.create(
        store=store, name=name, key_hash=hash_api_key(raw_key), created_at=now
    )
    return key, raw_key


def revoke_api_key(*, key: ApiKey, now: dt.datetime) -> ApiKey:
    """Refuse `key` from `now` on; a key revoked before keeps its first revocation time."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
    key.refresh_from_db(fields=["revoked_at"])
    return key


def record_api_key_use(*, key: ApiKey, now: dt.datetime) -> None:
    """Note that `key` was used at `now`, writing at most once a minute per key: a request
    whose key was used less than a minute ago writes nothing (the API is busiest then)."""
    since = now - API_KEY_USE_RESOLUTION
    if key.last_used_at is not None and key.last_used_at > since:
        return
    # The condition again in SQL, so that requests arriving together write once.
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=since)
    ).update(last_used_at=now)
    key.last_used_at = now


def add_member(*, store: Store, user: User, role: MemberRole = MemberRole.OWNER) -> StoreMember:
    """Let `user` see `store` in the dashboard with `role`; adding a member again only
    changes the role."""
    member, _ = StoreMember.objects.update_or_create(
        store=store, user=user, defaults={"role": role}
    )
    return member

"""Creating stores, their API keys and their dashboard members."""

import datetime as dt
import hashlib
import secrets

from django.contrib.auth.models import User
from django.utils.text import slugify

from aftersale.stores.models import MemberRole, Store, StoreMember


def hash_api_key(raw_key: str) -> str:
    """The stored form of an API key; raw keys are never kept."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_store(*, name: str, now: dt.datetime, slug: str = "", **settings: str) -> Store:
    """Create a store named `name` with the given settings."""
    return Store.objects.create(name=name, slug=slug or slugify(name), created_at=now, **settings)


def issue_api_key(*, store: Store) -> str:
    """Give `store` a new API key (replacing the old one) and return it, shown only once."""
    raw_key = f"as_{store.slug}_{secrets.token_urlsafe(24)}"
    store.api_key_hash = hash_api_key(raw_key)
    store.save(update_fields=["api_key_hash"])
    return raw_key


def add_member(*, store: Store, user: User, role: MemberRole = MemberRole.OWNER) -> StoreMember:
    """Let `user` see `store` in the dashboard with `role`; adding a member again only
    changes the role."""
    member, _ = StoreMember.objects.update_or_create(
        store=store, user=user, defaults={"role": role}
    )
    return member

"""Finding stores."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from aftersale.stores.models import Store
from aftersale.stores.services import hash_api_key


class StoreNotFound(LookupError):
    """No store matches what was asked for."""


def store_for_api_key(*, raw_key: str) -> Store | None:
    """The store owning `raw_key`, or None."""
    if not raw_key:
        return None
    return Store.objects.filter(api_key_hash=hash_api_key(raw_key)).first()


def resolve_store(*, slug: str | None) -> Store:
    """The store with `slug`; with no slug, the only store there is."""
    if slug:
        store = Store.objects.filter(slug=slug).first()
        if store is None:
            raise StoreNotFound(f"no store with slug {slug!r}")
        return store
    stores = list(Store.objects.order_by("id")[:2])
    if len(stores) != 1:
        raise StoreNotFound(
            "no store yet: run `aftersale demo` or create one"
            if not stores
            else "several stores exist: pass --store SLUG"
        )
    return stores[0]


def stores_for_user(*, user: User | AnonymousUser) -> QuerySet[Store]:
    """The stores `user` may see in the dashboard, by name: every store for an active
    superuser, the stores they are a member of for anyone else active, none otherwise."""
    if not user.is_active:
        return Store.objects.none()
    stores = Store.objects.order_by("name", "id")
    return stores if user.is_superuser else stores.filter(members__user_id=user.pk)


def store_for_user(*, user: User | AnonymousUser, slug: str) -> Store:
    """The store with `slug` if `user` may see it; StoreNotFound otherwise, the same
    error whether the store is missing or someone else's (so slugs do not leak)."""
    store = stores_for_user(user=user).filter(slug=slug).first()
    if store is None:
        raise StoreNotFound(f"no store with slug {slug!r}")
    return store

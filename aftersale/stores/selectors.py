"""Finding stores, their members and their email transport."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, QuerySet

from aftersale.stores.credentials import decrypt
from aftersale.stores.models import ApiKey, EmailTransport, MemberRole, Store, StoreMember
from aftersale.stores.services import hash_api_key


class StoreNotFound(LookupError):
    """No store matches what was asked for."""


class ApiKeyNotFound(LookupError):
    """No API key of the store matches what was asked for."""


def active_api_key(*, raw_key: str) -> ApiKey | None:
    """The API key `raw_key` is, with its store, if it has not been revoked; else None."""
    if not raw_key:
        return None
    keys = ApiKey.objects.select_related("store")
    return keys.filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True).first()


def api_keys(*, store: Store) -> QuerySet[ApiKey]:
    """Every API key of `store`, revoked ones too, oldest first."""
    return ApiKey.objects.filter(store=store).order_by("created_at", "id")


def api_key_named(*, store: Store, name_or_id: str) -> ApiKey:
    """The key of `store` with this name (the one in use before a revoked one of the same
    name) or, failing that, with this id; ApiKeyNotFound otherwise."""
    keys, wanted = api_keys(store=store), name_or_id.strip()
    in_use_first = F("revoked_at").desc(nulls_first=True)
    found = keys.filter(name=wanted).order_by(in_use_first, "-id").first()
    if found is None and wanted.isdigit():
        found = keys.filter(pk=int(wanted)).first()
    if found is None:
        raise ApiKeyNotFound(f"store {store.slug!r} has no API key named {name_or_id!r}")
    return found


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
            "no store yet: create one with `aftersale stores create NAME` (or run `aftersale demo`)"
            if not stores
            else "several stores exist: pass --store SLUG"
        )
    return stores[0]


def all_stores() -> QuerySet[Store]:
    """Every store of the installation, by slug."""
    return Store.objects.order_by("slug")


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


def installation_is_new() -> bool:
    """Whether no login exists yet: the dashboard's first run (create the first login
    and store) is still to do."""
    return not User.objects.exists()


def role_in_store(*, user: User | AnonymousUser, store: Store) -> MemberRole | None:
    """What `user` may do in `store`: OWNER for a superuser, their membership's role,
    or None when they are not a member."""
    if not user.is_active:
        return None
    if user.is_superuser:
        return MemberRole.OWNER
    role = (
        StoreMember.objects.filter(store=store, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )
    return MemberRole(role) if role else None


def store_members(*, store: Store) -> QuerySet[StoreMember]:
    """The members of `store` with their logins, owners first, then by username."""
    members = StoreMember.objects.filter(store=store).select_related("user")
    return members.order_by(F("role").desc(), "user__username")


@dataclass(frozen=True)
class TransportSettings:
    """How a store's email goes out, credentials decrypted: kind "environment" (the
    installation's AFTERSALE_* transport), "smtp" or "esp"."""

    kind: str
    host: str = ""
    port: int = 0
    security: str = "starttls"
    username: str = ""
    password: str = ""
    esp: str = ""
    api_key: str = ""


def transport_settings(*, store: Store) -> TransportSettings:
    """`store`'s email transport, as its settings say (UnreadableCredential when a
    stored secret was saved under another secret key)."""
    if store.email_transport == EmailTransport.SMTP:
        return TransportSettings(
            kind=EmailTransport.SMTP,
            host=store.smtp_host,
            port=store.smtp_port,
            security=store.smtp_security,
            username=store.smtp_username,
            password=decrypt(store.smtp_password),
        )
    if store.email_transport == EmailTransport.ESP:
        return TransportSettings(
            kind=EmailTransport.ESP, esp=store.esp_name, api_key=decrypt(store.esp_api_key)
        )
    return TransportSettings(kind=EmailTransport.ENVIRONMENT)

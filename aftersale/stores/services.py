"""Creating stores, their API keys and their dashboard members."""

import datetime as dt
import hashlib
import importlib.util
import re
import secrets
import zoneinfo
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from aftersale.lib.currencies import is_currency_code
from aftersale.stores.credentials import encrypt
from aftersale.stores.models import ApiKey, EmailTransport, MemberRole, Store, StoreMember

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
DOMAIN = re.compile(r"(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.I)
MIN_PASSWORD_LENGTH = 8
MAX_SMART_SENDING_HOURS = 24 * 14  # as flows.definition.Guards allows
MAX_ATTRIBUTION_DAYS = 90
# How fresh an API key's last_used_at is kept.
API_KEY_USE_RESOLUTION = dt.timedelta(minutes=1)


class InvalidInput(ValueError):
    """What was typed cannot be used; the message names each field, and `errors` holds
    each field's problem by its name (for a form to show next to the field)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(f"{field}: {problem}" for field, problem in errors.items()))
        self.errors = errors


class InvalidStore(InvalidInput):
    """A store cannot be made or changed with these settings."""


class InvitationError(ValueError):
    """An invitation link cannot be used (not one of ours, expired, or its store is gone)."""


class LastOwner(ValueError):
    """The store's last owner cannot be removed: nobody could change its settings then."""


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
        raise InvalidStore(problems)
    store.save()
    return store


def _store_problems(store: Store) -> dict[str, str]:
    """What is wrong with `store`'s settings, by field; empty when nothing is."""
    try:
        store.full_clean()
        problems = {}
    except ValidationError as error:
        problems = {field: " ".join(messages) for field, messages in error.message_dict.items()}
    if not is_currency_code(store.currency):
        problems["currency"] = f"{store.currency!r} is not an ISO 4217 code such as EUR."
    if store.time_zone not in zoneinfo.available_timezones():
        problems["time_zone"] = f"{store.time_zone!r} is not a time zone such as Europe/Paris."
    if not _is_locale(store.locale):
        problems["locale"] = f"{store.locale!r} is not a locale such as en_US or fr_FR."
    if not HEX_COLOUR.fullmatch(store.brand_color):
        problems["brand_color"] = (
            f"{store.brand_color!r} is not a hex colour such as #1f6feb (# and six hex digits)."
        )
    if (store.quiet_hours_start is None) != (store.quiet_hours_end is None):
        problems["quiet_hours_end" if store.quiet_hours_end is None else "quiet_hours_start"] = (
            "give both the start and the end of quiet hours, or neither (no quiet hours)."
        )
    elif store.quiet_hours_start is not None and store.quiet_hours_start == store.quiet_hours_end:
        problems["quiet_hours_end"] = "quiet hours must end at another time than they start."
    if store.smart_sending_hours > MAX_SMART_SENDING_HOURS:
        problems["smart_sending_hours"] = (
            f"at most {MAX_SMART_SENDING_HOURS} hours (two weeks), not {store.smart_sending_hours}."
        )
    for window in ("attribution_click_days", "attribution_open_days"):
        if getattr(store, window) > MAX_ATTRIBUTION_DAYS:
            problems[window] = f"at most {MAX_ATTRIBUTION_DAYS} days, not {getattr(store, window)}."
    if store.reply_domain and not DOMAIN.fullmatch(store.reply_domain):
        problems["reply_domain"] = (
            f"{store.reply_domain!r} is not a domain name such as replies.shop.example.com."
        )
    problems.update(_transport_problems(store))
    return problems


def _transport_problems(store: Store) -> dict[str, str]:
    problems = {}
    if store.email_transport == EmailTransport.SMTP:
        if not store.smtp_host.strip():
            problems["smtp_host"] = "the SMTP relay's host name is required, e.g. smtp.example.com."
        if not 1 <= store.smtp_port <= 65535:
            problems["smtp_port"] = f"a port is 1 to 65535, not {store.smtp_port}."
    if store.email_transport == EmailTransport.ESP:
        if not store.esp_name.isidentifier() or not importlib.util.find_spec(
            f"anymail.backends.{store.esp_name}"
        ):
            problems["esp_name"] = (
                f"{store.esp_name!r} is not an email service django-anymail sends through, "
                "such as postmark, sendgrid, mailgun or amazon_ses."
            )
        if not store.esp_api_key:
            problems["esp_api_key"] = "the email service's API key is required."
    return problems


def _is_locale(value: str) -> bool:
    try:
        Locale.parse(value)
    except (ValueError, TypeError, UnknownLocaleError):
        return False
    return True


# The settings a merchant may change on the Settings page (credentials apart).
EDITABLE_SETTINGS = (
    "name",
    "currency",
    "from_name",
    "from_email",
    "reply_to",
    "reply_domain",
    "website_url",
    "brand_color",
    "logo_url",
    "physical_address",
    "time_zone",
    "locale",
    "quiet_hours_start",
    "quiet_hours_end",
    "smart_sending_hours",
    "attribution_click_days",
    "attribution_open_days",
    "non_product_codes",
    "email_transport",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "esp_name",
)


def update_store_settings(
    *,
    store: Store,
    smtp_password: str | None = None,
    esp_api_key: str | None = None,
    **changes: Any,
) -> Store:
    """Change `store`'s settings (any of EDITABLE_SETTINGS, by name) after checking every
    value as create_store_from_input does: InvalidStore naming each wrong field, and
    nothing changed. `smtp_password` and `esp_api_key` are stored encrypted; None or ""
    keeps the stored one. Text is stripped; the brand colour is kept in lower case.
    Returns `store`, read again."""
    candidate = _changed(store, changes, smtp_password=smtp_password, esp_api_key=esp_api_key)
    problems = _store_problems(candidate)
    if problems:
        raise InvalidStore(problems)
    candidate.save()
    store.refresh_from_db()
    return store


def store_settings_problems(*, store: Store, **changes: Any) -> dict[str, str]:
    """What update_store_settings would refuse in `changes`, by field (empty: nothing),
    changing nothing: a form checks the fields it could read while others are wrong."""
    return _store_problems(_changed(store, changes))


def _changed(
    store: Store,
    changes: dict[str, Any],
    *,
    smtp_password: str | None = None,
    esp_api_key: str | None = None,
) -> Store:
    unknown = set(changes) - set(EDITABLE_SETTINGS) - {"smtp_password", "esp_api_key"}
    if unknown:
        raise TypeError(f"not store settings: {', '.join(sorted(unknown))}")
    smtp_password = smtp_password or changes.pop("smtp_password", None)
    esp_api_key = esp_api_key or changes.pop("esp_api_key", None)
    candidate = Store.objects.get(pk=store.pk)
    for field, value in changes.items():
        setattr(candidate, field, value.strip() if isinstance(value, str) else value)
    candidate.brand_color = candidate.brand_color.lower()
    candidate.non_product_codes = ", ".join(
        dict.fromkeys(
            c.strip().upper() for c in candidate.non_product_codes.split(",") if c.strip()
        )
    )
    if smtp_password:
        candidate.smtp_password = encrypt(smtp_password)
    if esp_api_key:
        candidate.esp_api_key = encrypt(esp_api_key.strip())
    return candidate


# --- the first run --------------------------------------------------------------------


class InstallationNotNew(RuntimeError):
    """The first run is over: a user exists already."""


def set_up_installation(
    *,
    username: str,
    email: str,
    password: str,
    store_name: str,
    now: dt.datetime,
    **store_settings: str,
) -> tuple[User, Store]:
    """The first login of a new installation (a superuser) and its first store, which
    the login owns; both or neither. InvalidInput names each wrong field (the login's
    `username`, `email` and `password` among them: Django's password validators apply);
    InstallationNotNew once any user exists."""
    username, email = username.strip(), email.strip()
    with transaction.atomic():
        if User.objects.exists():
            raise InstallationNotNew("this installation has its first login already: log in")
        problems = _login_problems(username=username, email=email, password=password)
        store = Store(
            name=store_name.strip(),
            slug=slugify(store_name) or "store",
            created_at=now,
            **store_settings,
        )
        problems |= _store_problems(store)
        if problems:
            raise InvalidInput(problems)
        store.save()
        user = User.objects.create_superuser(username=username, email=email, password=password)
        add_member(store=store, user=user, role=MemberRole.OWNER)
    return user, store


def create_owned_store(*, user: User, name: str, now: dt.datetime, **settings: str) -> Store:
    """A new store made from what `user` typed (create_store_from_input), which `user`
    owns; its slug is made from the name, with a number after it when that is taken."""
    slug = _free_slug(slugify(name) or "store")
    with transaction.atomic():
        store = create_store_from_input(name=name, slug=slug, now=now, **settings)
        add_member(store=store, user=user, role=MemberRole.OWNER)
    return store


def _free_slug(base: str) -> str:
    slug, number = base[:46], 1
    while Store.objects.filter(slug=slug).exists():
        number += 1
        slug = f"{base[:46]}-{number}"
    return slug


def _login_problems(
    *, username: str, email: str, password: str, user: User | None = None
) -> dict[str, str]:
    problems = {}
    try:
        UnicodeUsernameValidator()(username)
        if not username:
            raise ValidationError("a username is required.")
    except ValidationError as error:
        problems["username"] = " ".join(error.messages)
    if username and User.objects.filter(username__iexact=username).exists():
        problems["username"] = f"{username!r} is taken: choose another username."
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems["email"] = f"{email!r} is not an email address."
    try:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters.")
        validate_password(password, user=user or User(username=username, email=email))
    except ValidationError as error:
        problems["password"] = " ".join(error.messages)
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


def remove_member(*, store: Store, member_id: int) -> None:
    """Take the member `member_id` off `store` (nothing when it is not one of the store's);
    LastOwner when they are its only owner."""
    with transaction.atomic():
        member = StoreMember.objects.select_for_update().filter(store=store, pk=member_id).first()
        if member is None:
            return
        owners = StoreMember.objects.select_for_update().filter(store=store, role=MemberRole.OWNER)
        if member.role == MemberRole.OWNER and owners.count() <= 1:
            raise LastOwner(
                f"{member.user.get_username()} is the only owner of {store.name}: make "
                "another member an owner before removing them"
            )
        member.delete()


# --- invitations ----------------------------------------------------------------------

INVITATION_LIFETIME = dt.timedelta(days=7)
_INVITATION_SALT = "aftersale.stores.invitation"


@dataclass(frozen=True)
class Invitation:
    """A signed invitation to become a member of `store` with `role`, valid until
    `expires_at`; `token` is the part of the link that carries it."""

    store: Store
    email: str
    role: MemberRole
    expires_at: dt.datetime
    token: str


def invite_member(*, store: Store, email: str, role: str, now: dt.datetime) -> Invitation:
    """An invitation for `email` to join `store` with `role` ("owner" or "marketer"),
    valid for INVITATION_LIFETIME from `now`: a token signed with the secret key (nothing
    stored), to be sent as a link. InvalidInput names a wrong email or role."""
    email = email.strip()
    problems = {}
    try:
        validate_email(email)
    except ValidationError:
        problems["email"] = f"{email!r} is not an email address."
    if role not in MemberRole.values:
        problems["role"] = f"{role!r} is not a role: choose owner or marketer."
    if problems:
        raise InvalidInput(problems)
    expires_at = now + INVITATION_LIFETIME
    payload = {"store": store.pk, "email": email, "role": role, "until": expires_at.isoformat()}
    token = signing.dumps(payload, salt=_INVITATION_SALT, compress=True)
    return Invitation(store, email, MemberRole(role), expires_at, token)


def read_invitation(*, token: str, now: dt.datetime) -> Invitation:
    """The invitation `token` carries; InvitationError when it was not made here, has
    expired (by `now`) or its store is gone."""
    try:
        payload = signing.loads(token, salt=_INVITATION_SALT)
        expires_at = dt.datetime.fromisoformat(payload["until"])
        store = Store.objects.filter(pk=payload["store"]).first()
        role = MemberRole(payload["role"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
        raise InvitationError("this invitation link is not valid: ask for a new one") from error
    if store is None:
        raise InvitationError("the store of this invitation no longer exists")
    if now >= expires_at:
        raise InvitationError(
            f"this invitation expired on {expires_at:%Y-%m-%d %H:%M} UTC: ask for a new one"
        )
    return Invitation(store, payload["email"], role, expires_at, token)


def accept_invitation(
    *,
    token: str,
    now: dt.datetime,
    user: User | None = None,
    username: str = "",
    password: str = "",
) -> StoreMember:
    """Make the invitee a member of the invitation's store with its role: `user` when
    signed in, else a new login `username`/`password` with the invited email
    (InvalidInput names what is wrong with them). InvitationError for a link that cannot
    be used. A member already an owner stays one."""
    invitation = read_invitation(token=token, now=now)
    with transaction.atomic():
        if user is None:
            username = username.strip()
            problems = _login_problems(username=username, email=invitation.email, password=password)
            if problems:
                raise InvalidInput(problems)
            user = User.objects.create_user(
                username=username, email=invitation.email, password=password
            )
        current = StoreMember.objects.filter(store=invitation.store, user=user).first()
        if current is not None and current.role == MemberRole.OWNER:
            return current
        return add_member(store=invitation.store, user=user, role=invitation.role)

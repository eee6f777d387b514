"""A store's email credentials (SMTP password, email service key) kept encrypted: Fernet
tokens under a key derived from settings.SECRET_KEY with HKDF, so the database alone
never gives them away. Changing the secret key makes the stored ones unreadable: the
merchant enters them again in Settings."""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_SALT = b"aftersale.stores.credentials"
_INFO = b"store email credentials v1"


class UnreadableCredential(ValueError):
    """A stored credential cannot be decrypted: the secret key changed since it was saved."""


def encrypt(plain: str) -> str:
    """`plain` as a Fernet token (text); "" stays "" (no credential)."""
    return _fernet(settings.SECRET_KEY).encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    """The plain text of a token `encrypt` made; "" for "". UnreadableCredential when this
    installation's secret key did not make it."""
    if not token:
        return ""
    try:
        return _fernet(settings.SECRET_KEY).decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise UnreadableCredential(
            "a stored email credential cannot be read (the secret key changed since it was "
            "saved): enter it again in the store's Settings"
        ) from error


def masked(token: str) -> str:
    """What a page may show of a stored credential: "••••" and its last four characters
    (fewer for a short one), "" when there is none, or a note when it cannot be read."""
    if not token:
        return ""
    try:
        plain = decrypt(token)
    except UnreadableCredential:
        return "(unreadable: enter it again)"
    return "••••" + plain[-4:] if len(plain) >= 8 else "••••"


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))

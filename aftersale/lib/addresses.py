"""Email addresses as every app stores them: one spelling an SMTP server accepts."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# RFC 5321's limit on a forward path, which is what a relay refuses beyond.
MAX_LENGTH = 254


class InvalidAddress(ValueError):
    """An address no email could be sent to; the message says why."""


def normalized_address(value: str) -> str:
    """`value` trimmed and lower-cased, with an internationalised domain in its ASCII
    (IDNA) form, so a relay takes it as it is; InvalidAddress when it is no address."""
    local, at, domain = value.strip().lower().rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise InvalidAddress("not a valid email address (its domain)") from error
    address = f"{local}{at}{domain}"
    if len(address) > MAX_LENGTH:
        raise InvalidAddress(f"longer than {MAX_LENGTH} characters")
    try:
        validate_email(address)
    except ValidationError as error:
        raise InvalidAddress("not a valid email address") from error
    return address

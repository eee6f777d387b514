"""Fast signing makes exactly Django's tokens, under any secret key."""

import pytest
from django.core import signing
from django.test import override_settings

from aftersale.lib.signing import is_signature, sign, signature


@pytest.mark.parametrize("secret", ["one-secret", "another-secret"])
def test_fast_tokens_are_djangos_tokens_and_unsign(secret: str) -> None:
    with override_settings(SECRET_KEY=secret):
        token = sign("42.7.y", salt="some.salt")
        assert token == signing.Signer(salt="some.salt").sign("42.7.y")
        assert signing.Signer(salt="some.salt").unsign(token) == "42.7.y"
        with pytest.raises(signing.BadSignature):
            signing.Signer(salt="other.salt").unsign(token)


def test_a_signature_is_checked_against_the_value_salt_and_secret() -> None:
    given = signature("42", salt="some.salt")
    assert is_signature("42", given, salt="some.salt")
    assert not is_signature("43", given, salt="some.salt")
    assert not is_signature("42", given, salt="other.salt")
    with override_settings(SECRET_KEY="another-secret"):
        assert not is_signature("42", given, salt="some.salt")

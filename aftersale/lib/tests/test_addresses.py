"""Email addresses are stored as a relay takes them, or refused with the reason."""

import pytest

from aftersale.lib.addresses import InvalidAddress, normalized_address


def test_an_address_is_trimmed_and_lower_cased():
    assert normalized_address("  Ada@Example.COM ") == "ada@example.com"


def test_an_internationalised_domain_is_stored_in_its_ascii_form():
    assert normalized_address("joerg@Bücher.example") == "joerg@xn--bcher-kva.example"


def test_a_local_part_beyond_ascii_is_refused():
    # It would need SMTPUTF8, which relays do not all speak: refused at ingest, not at send.
    with pytest.raises(InvalidAddress, match="not a valid email address"):
        normalized_address("jörg@example.com")


def test_an_address_over_254_characters_is_refused():
    local = "a" * 64
    long_domain = ".".join(["b" * 60] * 4) + ".example"
    with pytest.raises(InvalidAddress, match="longer than 254 characters"):
        normalized_address(f"{local}@{long_domain}")


@pytest.mark.parametrize(
    "bad", ["not-an-email", "a@", "@example.com", "a@b@c.example", "a@-x-.example"]
)
def test_what_is_no_address_is_refused(bad):
    with pytest.raises(InvalidAddress, match="not a valid email address"):
        normalized_address(bad)


def test_a_domain_label_too_long_for_idna_is_refused():
    with pytest.raises(InvalidAddress, match="its domain"):
        normalized_address("a@" + "ü" * 70 + ".example")

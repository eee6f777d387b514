"""UTM tagging and unsubscribe tokens."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from aftersale.messaging.rendering.links import (
    add_utm,
    message_id_from_reply_address,
    message_id_from_token,
    reply_address,
    tag_links,
    unsubscribe_token,
)


def test_utm_parameters_are_added_and_existing_query_parameters_kept() -> None:
    url = add_utm("https://shop.example.com/p/1?variant=2&ref=", campaign="flow", content="tpl")
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    assert query == [
        ("variant", "2"),
        ("ref", ""),
        ("utm_source", "aftersale"),
        ("utm_medium", "email"),
        ("utm_campaign", "flow"),
        ("utm_content", "tpl"),
    ]


def test_a_merchant_set_utm_parameter_wins() -> None:
    url = add_utm("https://shop.example.com/?utm_campaign=spring", campaign="flow", content="t")
    assert dict(parse_qsl(urlsplit(url).query))["utm_campaign"] == "spring"


def test_links_back_to_aftersale_and_mailto_links_are_not_tagged() -> None:
    page = (
        '<a href="http://127.0.0.1:8000/u/1:x/">u</a><a href="mailto:a@b.c">m</a>'
        "<a href='https://shop.example.com/?a=1&amp;b=2'>s</a>"
    )
    tagged = tag_links(page, campaign="c", content="t")
    assert 'href="http://127.0.0.1:8000/u/1:x/"' in tagged and 'href="mailto:a@b.c"' in tagged
    assert "https://shop.example.com/?a=1&amp;b=2&amp;utm_source=aftersale" in tagged


def test_unsubscribe_token_round_trips_and_rejects_tampering() -> None:
    token = unsubscribe_token(42)
    assert message_id_from_token(token) == 42
    assert message_id_from_token(token.replace("42", "43", 1)) is None
    assert message_id_from_token("garbage") is None


def test_reply_address_names_its_message_in_any_letter_case() -> None:
    address = reply_address(42, domain="reply.shop.example.com")
    assert address.startswith("reply+42-") and address.endswith("@reply.shop.example.com")
    assert message_id_from_reply_address(address) == 42
    assert message_id_from_reply_address(f"<{address.upper()}>") == 42


def test_a_forged_reply_address_names_no_message() -> None:
    forged = reply_address(42, domain="x.example").replace("reply+42-", "reply+43-")
    assert message_id_from_reply_address(forged) is None
    assert message_id_from_reply_address("hello@shop.example.com") is None

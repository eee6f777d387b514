"""The hand-assembled MIME, checked by parsing it back with the standard library."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftersale.messaging.mime import (
    AddressError,
    Email,
    checked_address,
    clean,
    quoted_piece,
    random_hex,
    render,
)

DATE = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def make(**fields: object) -> Email:
    values: dict[str, object] = {
        "from_name": "Test Shop",
        "from_address": "hello@shop.example.com",
        "to": "ada@example.org",
        "subject": "Thanks for your order",
        "text": "Hi Ada,\nthanks!\n",
        "html": "<p>Hi Ada,</p><p>thanks!</p>",
        "message_id": "<1.abc@shop.example.com>",
        "date": DATE,
    }
    values.update(fields)
    return Email(**values)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    return parsed


def parts(parsed: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts' content, line ends as Python writes them."""
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return tuple(p.get_content().replace("\r\n", "\n") for p in (text, html))  # type: ignore[return-value]


def test_headers_and_both_parts_parse_back() -> None:
    raw = render(
        make(
            reply_to="reply+1-abc@reply.shop.example.com",
            headers=[("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")],
        )
    )
    parsed = parse(raw)
    assert parsed["From"] == "Test Shop <hello@shop.example.com>"
    assert parsed["To"] == "ada@example.org"
    assert parsed["Reply-To"] == "reply+1-abc@reply.shop.example.com"
    assert parsed["Subject"] == "Thanks for your order"
    assert parsed["Message-ID"] == "<1.abc@shop.example.com>"
    assert parsed["Date"].datetime == DATE
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(parsed)
    assert text == "Hi Ada,\nthanks!\n"
    assert html == "<p>Hi Ada,</p><p>thanks!</p>"
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only


def test_non_ascii_names_subjects_and_bodies_are_encoded_and_come_back() -> None:
    subject = "Ihre Bestellung bei Müller & Söhne: 15 % Rabatt auf alles, was dazu passt 🎉"
    arabic = "شكرا لطلبك! " * 40
    parsed = parse(render(make(from_name="Müller & Söhne, GmbH", subject=subject, text=arabic)))
    assert parsed["Subject"] == subject
    assert parsed["From"].addresses[0].display_name == "Müller & Söhne, GmbH"
    text_part = parsed.get_body(preferencelist=("plain",))
    assert text_part is not None and text_part["Content-Transfer-Encoding"] == "base64"
    assert parts(parsed)[0] == arabic


def test_long_lines_and_dots_at_line_starts_survive() -> None:
    text = ".\n.starts with a dot\n" + "word " * 400 + "\nend  \n"
    html = "<table>" + '<td style="color:#333">cell</td>' * 200 + "</table>"
    raw = render(make(text=text, html=html))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert not any(line.startswith(b".") for line in raw.split(b"\r\n"))  # "=2E" instead
    assert parts(parse(raw)) == (text, html)


@pytest.mark.parametrize("before", [0, 1, 72, 73, 74, 75, 76, 150])
def test_a_dot_anywhere_near_a_line_break_never_starts_a_line(before: int) -> None:
    text = "x" * before + "." * 80 + "\n..."
    piece = quoted_piece(text)
    lines = piece.split(b"\r\n")
    assert max(len(line) for line in lines) <= 76
    assert not any(line.startswith(b".") for line in lines)
    raw = render(make(text=text, html="<p>" + text + "</p>", html_quoted=(piece,)))
    assert not any(line.startswith(b".") for line in raw.split(b"\r\n"))


def test_an_ascii_name_with_specials_is_quoted() -> None:
    parsed = parse(render(make(from_name='Ada "The Shop" Lovelace, Ltd.')))
    assert parsed["From"].addresses[0].display_name == 'Ada "The Shop" Lovelace, Ltd.'


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\x00", "\x0b", "\x85", "\u2028"])
def test_names_and_subjects_cannot_inject_headers(breaker: str) -> None:
    raw = render(
        make(
            from_name=f"Shop{breaker}Bcc: victim@example.org",
            subject=f"Hello{breaker}Bcc: victim@example.org{breaker}{breaker}body",
            headers=[("X-Note", f"a{breaker}Bcc: victim@example.org")],
        )
    )
    parsed = parse(raw)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Hello Bcc: victim@example.org body"
    assert parsed["From"].addresses[0].display_name == "Shop Bcc: victim@example.org"
    assert parsed["X-Note"] == "a Bcc: victim@example.org"


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.org\r\nBcc: victim@example.org",
        "ada@example.org>\r\nRCPT TO:<victim@example.org",
        "ada@exa\x00mple.org",
        "Ada <ada@example.org>",
        "ada@example.org, victim@example.org",
        "adä@example.org",
        "not-an-address",
    ],
)
def test_addresses_that_are_not_one_plain_address_are_refused(address: str) -> None:
    with pytest.raises(AddressError, match="not a plain ASCII email address"):
        render(make(to=address))
    with pytest.raises(AddressError):
        render(make(reply_to=address))


def test_cleaning_keeps_words_and_checked_addresses_lose_only_outer_spaces() -> None:
    assert clean("  Summer\r\n\tsale\x7f now ") == "Summer sale now"
    assert checked_address("  ada@example.org\n") == "ada@example.org"


@settings(max_examples=60, deadline=None)
@given(
    subject=st.text(max_size=200),
    name=st.text(max_size=60),
    text=st.text(max_size=2000),
)
def test_any_subject_name_and_text_parse_back_cleaned(subject: str, name: str, text: str) -> None:
    raw = render(make(subject=subject, from_name=name, text=text, html="<p>" + text + "</p>"))
    assert not any(line.startswith(b".") for line in raw.split(b"\r\n"))  # SMTP-ready as is
    parsed = parse(raw)
    assert str(parsed["Subject"] or "") == clean(subject)
    display_name = parsed["From"].addresses[0].display_name
    if clean(name).isascii():
        assert display_name == clean(name)
    else:  # the stdlib's address parser keeps a space between encoded words (RFC 2047
        # says to drop it; it does the same to its own output), so compare without spaces
        assert display_name.replace(" ", "") == clean(name).replace(" ", "")
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert parts(parsed)[0] == expected


@settings(max_examples=80, deadline=None)
@given(
    pieces=st.lists(
        st.text(alphabet=st.sampled_from('ab =."\n\t\xa0é€<>&'), max_size=200), max_size=12
    )
)
def test_html_quoted_in_pieces_parses_back_as_the_pieces_joined(pieces: list[str]) -> None:
    html = "<p>" + "".join(pieces) + "</p>"
    quoted = [quoted_piece("<p>"), *(quoted_piece(p) for p in pieces), quoted_piece("</p>")]
    raw = render(make(html=html, html_quoted=quoted))
    assert parts(parse(raw))[1] == html.replace("\r\n", "\n").replace("\r", "\n")
    lines = b"".join(quoted).split(b"\r\n")
    assert max(len(line) for line in lines) <= 76
    assert not any(line.startswith(b".") for line in lines)  # nothing for SMTP to double


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(
        st.text(alphabet=st.sampled_from('ab =."\n\t\xa0é€<>&'), max_size=200), max_size=12
    )
)
def test_text_quoted_in_pieces_parses_back_as_the_pieces_joined(pieces: list[str]) -> None:
    text = "".join(pieces)
    raw = render(make(text=text, html="<p>x</p>", text_quoted=[quoted_piece(p) for p in pieces]))
    assert parts(parse(raw))[0] == text.replace("\r\n", "\n").replace("\r", "\n")
    assert not any(line.startswith(b".") for line in raw.split(b"\r\n"))


def test_random_hex_draws_fresh_bytes_each_time() -> None:
    drawn = [random_hex(8) for _ in range(5_000)]  # past one pool of the OS's bytes
    assert len(set(drawn)) == len(drawn)
    assert all(len(token) == 16 and int(token, 16) >= 0 for token in drawn)

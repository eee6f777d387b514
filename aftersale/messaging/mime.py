"""Assembling a multipart/alternative email (plain text + HTML) as bytes, fast.

The standard library's `email.message` builds about 1,000 messages a second; this builds
the one shape Aftersale sends by joining bytes: headers RFC 2047-encoded where they are
not ASCII and folded under 78 columns, bodies quoted-printable (or base64 when mostly
non-ASCII) in C (binascii), CRLF line ends throughout. The tests parse every form back
with `email`. Every header value is cleaned first: control characters, CR and LF can
never reach the output, so no value can add a header of its own (header injection)."""

from __future__ import annotations

import binascii
import datetime as dt
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from functools import lru_cache

# Every C0 and C1 control character, DEL, and Unicode's line and paragraph separators.
_CONTROLS = dict.fromkeys([*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029], " ")
_CLEAN_TABLE = str.maketrans(_CONTROLS)
# A plain addr-spec: no spaces, controls, brackets, quotes or separators anywhere.
_ADDRESS = re.compile(r"^[^\s\x00-\x1f\x7f<>()\[\]\\,;:\"@]+@[^\s\x00-\x1f\x7f<>()\[\]\\,;:\"@]+$")
# Characters that make a display name need quoting (RFC 5322 "specials").
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_MAX_LINE = 78
# An encoded-word is at most 75 characters: "=?utf-8?b?" + base64 + "?=" leaves 63 for
# base64, which is 45 bytes of UTF-8 (a multiple of 3, so no padding inside a word).
_WORD_BYTES = 45
_BASE64_LINE_BYTES = 57  # 76 base64 characters per body line
_MAX_QP_LINE = 76  # characters of a quoted-printable line, a soft break's "=" included
# A line starting with "." (after its "\n": a literal start lets the search skip ahead).
_LINE_FROM_DOT = re.compile(rb"\n(\.[^\n]*)")
# Text that quoted-printable writes as it is: printable ASCII without "=" (a space is
# only encoded at the end of a line, and a soft break's "=" ends every line here).
_NOTHING_TO_ENCODE = re.compile(r"[ -<>-~]+\Z").match


# Random bytes are drawn from the OS this many at a time: a call for each boundary and
# Message-ID cost as much as a header.
_RANDOM_POOL_BYTES = 4096
_random_pool = bytearray()
_random_lock = threading.Lock()
os.register_at_fork(after_in_child=_random_pool.clear)  # never the parent's bytes twice


def random_hex(nbytes: int) -> str:
    """`nbytes` unpredictable bytes (os.urandom's) in hex, as secrets.token_hex gives."""
    with _random_lock:  # two threads never draw the same bytes
        if len(_random_pool) < nbytes:
            _random_pool[:] = os.urandom(_RANDOM_POOL_BYTES)
        drawn = _random_pool[-nbytes:]
        del _random_pool[-nbytes:]
    return drawn.hex()


class AddressError(ValueError):
    """An email address that is not one plain address (it would let a header or an SMTP
    command be injected, or is not an address at all)."""


def clean(value: str) -> str:
    """`value` on one line: every control character (CR and LF included) becomes a
    space and runs of whitespace collapse to one space."""
    if value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " ":
        return value  # no control character (none is printable) and single spaces only
    return " ".join(value.translate(_CLEAN_TABLE).split())


def checked_address(address: str) -> str:
    """`address` without surrounding whitespace, or AddressError when it is anything but
    one plain address: a CR, LF, space or other control character inside it is refused,
    not cleaned, because a cleaned address would be someone else's."""
    stripped = address.strip()
    if not _ADDRESS.match(stripped) or not stripped.isascii():
        raise AddressError(f"not a plain ASCII email address: {address!r}")
    return stripped


@lru_cache(maxsize=1024)
def format_address(name: str, address: str) -> str:
    """`Name <address>` as a header value: the name cleaned, quoted when it holds
    specials, RFC 2047-encoded when it is not ASCII; just the address without a name."""
    address = checked_address(address)
    name = clean(name)
    if not name:
        return address
    if not name.isascii():
        return f"{_encoded_words(name)} <{address}>"
    if _SPECIALS.search(name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{name} <{address}>"


def _encoded_words(text: str) -> str:
    """`text` as RFC 2047 base64 encoded-words of at most 75 characters, split between
    characters (never inside one) and separated by folding whitespace."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode())
        if size + width > _WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return "\r\n ".join(
        f"=?utf-8?b?{binascii.b2a_base64(word.encode(), newline=False).decode()}?="
        for word in words
    )


def _fold(name: str, value: str) -> str:
    """`Name: value` folded at spaces so lines stay under 78 characters where the value
    allows it (a single long word, such as a URL, stays whole)."""
    line = f"{name}: {value}"
    if len(line) <= _MAX_LINE:
        return line
    lines, current = [], f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > _MAX_LINE and current != f"{name}:":
            lines.append(current)
            current = ""
        current += f" {word}"
    lines.append(current)
    return "\r\n".join(lines)


def header(name: str, value: str) -> str:
    """One header line (folded, without the final CRLF) with `value` cleaned and, when
    it is not ASCII, RFC 2047-encoded."""
    value = clean(value)
    if not value.isascii():
        return f"{name}: {_encoded_words(value)}"
    return _fold(name, value)


def _body(text: str, *, quoted_pieces: Sequence[bytes] = ()) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body bytes with CRLF line ends) for `text`:
    quoted-printable (joined from `quoted_pieces` when given, see quoted_piece), or
    base64 when much of it is not ASCII (Arabic, Hebrew, CJK), where base64 is the
    shorter one. No line of either starts with ".", so SMTP has nothing to double."""
    if quoted_pieces:
        quoted = b"".join(quoted_pieces)
        # Quoted-printable is at least as long as the UTF-8, so a short one settles the
        # choice below without encoding the text again (the common case: mostly ASCII).
        if len(quoted) * 3 <= len(text) * 4:
            return "quoted-printable", quoted
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    raw = normalized.encode()
    if (len(raw) - len(normalized)) * 4 > len(raw):  # each non-ASCII char adds 1-3 bytes
        canonical = raw.replace(b"\n", b"\r\n")  # text is encoded with CRLF line ends
        lines = [
            binascii.b2a_base64(canonical[i : i + _BASE64_LINE_BYTES])
            for i in range(0, len(canonical), _BASE64_LINE_BYTES)
        ]
        return "base64", b"".join(lines).replace(b"\n", b"\r\n")
    if quoted_pieces:
        return "quoted-printable", quoted
    return "quoted-printable", _quoted_printable(raw).replace(b"\n", b"\r\n")


def _quoted_printable(raw: bytes) -> bytes:
    """`raw` quoted-printable with LF line ends: lines wrap at 76 with a soft break;
    "=", non-ASCII bytes, trailing spaces and a "." starting a line are encoded."""
    encoded = b"\n" + _b2a_qp(raw)  # so the first line starts after a "\n" too
    if b"\n." not in encoded:
        return encoded[1:]  # the common case
    return _LINE_FROM_DOT.sub(lambda line: b"\n" + _fitted(line[1], _MAX_QP_LINE), encoded)[1:]


def _b2a_qp(raw: bytes) -> bytes:
    # istext: "\n" is a line end to keep, not a byte to encode.
    return binascii.b2a_qp(raw, quotetabs=False, istext=True, header=False)


def _fitted(line: bytes, limit: int) -> bytes:
    """One quoted-printable line as LF-separated lines of at most 76 characters (the
    last at most `limit`), split with soft breaks outside "=XX" escapes, none starting
    with "." (written "=2E" instead, so SMTP has nothing to double)."""
    fitted = []
    while True:
        if line.startswith(b"."):
            line = b"=2E" + line[1:]
        if len(line) <= limit:
            fitted.append(line)
            return b"\n".join(fitted)
        cut = _MAX_QP_LINE - 1  # room for the soft break's "="
        cut -= 1 if line[cut - 1 : cut] == b"=" else 2 if line[cut - 2 : cut - 1] == b"=" else 0
        fitted.append(line[:cut] + b"=")
        line = line[cut:]


def quoted_piece(text: str) -> bytes:
    """`text` quoted-printable (CRLF line ends) as one piece of a longer body: it starts
    a line and ends with a soft line break, so pieces encoded one by one (a literal once,
    a value once per value) join into a body that decodes to their texts joined, with
    no line over 76 characters and none starting with ".". Empty for empty text."""
    if not text:
        return b""
    # Most links and values: only soft breaks to add, unless a line would start with "."
    # (the first characters of the lines are every 75th).
    if _NOTHING_TO_ENCODE(text) and "." not in text[:: _MAX_QP_LINE - 1]:
        if len(text) < _MAX_QP_LINE:
            return (text + "=\r\n").encode()
        lines = [text[at : at + _MAX_QP_LINE - 1] for at in range(0, len(text), _MAX_QP_LINE - 1)]
        return "=\r\n".join([*lines, ""]).encode()
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = _quoted_printable(normalized.encode())
    last_line = encoded.rfind(b"\n") + 1
    if len(encoded) - last_line >= _MAX_QP_LINE:  # no room left for the "="
        encoded = encoded[:last_line] + _fitted(encoded[last_line:], _MAX_QP_LINE - 1)
    return (encoded + b"=\n").replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class Email:
    """What one email says; `mime.render` turns it into bytes. Addresses are plain
    addresses (checked), names and subject free text (cleaned)."""

    from_name: str
    from_address: str
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    date: dt.datetime
    reply_to: str = ""
    # Further headers in order, e.g. List-Unsubscribe; values are cleaned like any other.
    headers: Sequence[tuple[str, str]] = field(default_factory=tuple)
    # The HTML already quoted-printable in pieces (see quoted_piece), when the renderer
    # has them: used unless the HTML is better sent in base64.
    html_quoted: Sequence[bytes] = field(default=(), repr=False, compare=False)
    # The plain text the same way (see quoted_piece), used unless base64 suits it better.
    text_quoted: Sequence[bytes] = field(default=(), repr=False, compare=False)


def render(email: Email) -> bytes:
    """The email as an RFC 5322 message: multipart/alternative with the plain-text part
    first and the HTML part second (clients show the last one they can), UTF-8. No line
    starts with ".", so it goes over SMTP as it is, with nothing to dot-stuff."""
    boundary = f"=_aftersale_{random_hex(12)}"  # "=_" never occurs in QP or base64
    lines = [
        f"From: {format_address(email.from_name, email.from_address)}",
        f"To: {checked_address(email.to)}",
        header("Subject", email.subject),
        f"Date: {_date(email.date)}",
        f"Message-ID: {clean(email.message_id).replace(' ', '')}",
    ]
    if email.reply_to:
        lines.append(f"Reply-To: {checked_address(email.reply_to)}")
    lines += [header(_header_name(name), value) for name, value in email.headers]
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
    ]
    text_encoding, text = _body(email.text, quoted_pieces=email.text_quoted)
    html_encoding, html = _body(email.html, quoted_pieces=email.html_quoted)
    head = "\r\n".join(lines).encode()
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return b"".join(
        (
            head,
            b"\r\n",
            delimiter,
            _part_head("text/plain", text_encoding),
            text,
            delimiter,
            _part_head("text/html", html_encoding),
            html,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


def _part_head(content_type: str, encoding: str) -> bytes:
    return (
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode()


@lru_cache(maxsize=64)
def _header_name(name: str) -> str:
    """A header name as RFC 5322 allows it: printable ASCII without ':' or spaces."""
    if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
        raise ValueError(f"not a header name: {name!r}")
    return name


@lru_cache(maxsize=64)
def _date(moment: dt.datetime) -> str:
    return format_datetime(moment)

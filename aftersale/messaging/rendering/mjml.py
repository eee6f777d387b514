"""MJML to HTML through mrml, with mrml 0.2.4's Rust escapes taken out of attributes.

mrml writes most attribute values (href, src, alt, title, aria-label, bgcolor, the
attributes of HTML inside mj-text...) through Rust's escape_debug: a no-break space comes
out as the six characters `\\u{a0}`, a backslash doubled, a tab as `\\t`. Mail clients
would show and follow those literally. An attribute value made entirely of ordinary
characters and such escapes is decoded; one with any other backslash (mrml wrote it as
it is, e.g. a css-class) is left alone.
"""

from __future__ import annotations

import re

import mrml

_TAG = re.compile(r"<[A-Za-z][^\s/>]*(?:\s+[^\s/>=]+(?:=\"[^\"]*\")?)*\s*/?>")
_ATTRIBUTE_VALUE = re.compile(r"(=\")([^\"]*\\[^\"]*)(\")")
_ESCAPED = re.compile(r"(?:[^\\]|\\(?:u\{[0-9a-f]{1,6}\}|[\\trn0'\"]))*")
_ESCAPE = re.compile(r"\\(?:u\{([0-9a-f]{1,6})\}|(.))")
_CHARACTERS = {"\\": "\\", "t": "\t", "r": "\r", "n": "\n", "0": "\0", "'": "'", '"': "&quot;"}


def mjml_to_html(mjml: str) -> str:
    """The HTML mrml makes of `mjml`, with Rust escapes in attribute values decoded;
    raises what mrml raises for MJML it refuses."""
    page = str(mrml.to_html(mjml).content)
    return decode_attribute_escapes(page) if "\\" in page else page


def decode_attribute_escapes(page: str) -> str:
    """`page` (HTML) with each attribute value that is written with Rust's escape_debug
    decoded (see the module docstring)."""
    return _TAG.sub(_decode_tag, page)


def _decode_tag(tag: re.Match[str]) -> str:
    text = tag.group(0)
    return _ATTRIBUTE_VALUE.sub(_decode_value, text) if "\\" in text else text


def _decode_value(value: re.Match[str]) -> str:
    escaped = value.group(2)
    if _ESCAPED.fullmatch(escaped) is None:
        return value.group(0)
    try:
        return value.group(1) + _ESCAPE.sub(_character, escaped) + value.group(3)
    except ValueError:  # "\u{110000}" and above: no character, so not mrml's escape
        return value.group(0)


def _character(escape: re.Match[str]) -> str:
    if escape.group(1) is not None:
        character = chr(int(escape.group(1), 16))
        return "&quot;" if character == '"' else character
    return _CHARACTERS[escape.group(2)]

"""Text as every app stores it: characters an email (XML, MIME, a terminal) can carry."""

import re
import unicodedata

# Tabs, line breaks and the other whitespace controls become one space in a one-line
# value (a name, a title); the other C0/C1 controls, lone surrogates and Unicode's
# noncharacters (U+FFFE, U+FDD0..., the last two of each plane) are dropped: XML 1.0,
# and so MJML, refuses them, and nobody typed them on purpose.
_WHITESPACE_CONTROLS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
# The line breaks a multi-line value keeps; the rarer ones count as spaces, as above.
_LINE_BREAKS = re.compile(r"\r\n|[\r\n]")


def _is_unprintable(character: str) -> bool:
    code = ord(character)
    if unicodedata.category(character) in ("Cc", "Cs"):
        return True
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def single_line_text(value: str) -> str:
    """`value` with its line breaks and tabs as single spaces and every control
    character, lone surrogate and noncharacter removed, trimmed at both ends."""
    if value.isascii() and value.isprintable():
        return value.strip()  # the common case, without a look at each character
    spaced = _WHITESPACE_CONTROLS.sub(" ", value)
    return "".join(c for c in spaced if not _is_unprintable(c)).strip()


def multi_line_text(value: str) -> str:
    """`value` (an address, a note) with each of its lines cleaned as `single_line_text`
    does, kept on lines of their own (joined by "\\n"), blank lines at both ends dropped."""
    return "\n".join(single_line_text(line) for line in _LINE_BREAKS.split(value)).strip()


def has_unprintable(value: str) -> bool:
    """Whether `value` holds a character that `single_line_text` would change
    (a control character, a lone surrogate or a noncharacter)."""
    if value.isascii() and value.isprintable():
        return False
    return any(_is_unprintable(c) for c in value)

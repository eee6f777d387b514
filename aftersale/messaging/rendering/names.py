"""Product names as an email shows them: the `display_name` template filter.

Catalogues often arrive in capitals ("COOK WITH WINE METAL SIGN"). `display_name` writes
every run of two or more such words (at least two of them with three letters or more)
in title case ("Cook With Wine Metal Sign", "Pack of 72 Retrospot Cake Cases"), through
the `titlecase` library (John Gruber's rules: small words, hyphens, apostrophes). What
keeps its capitals: sizes (XS to XXXL, 2XL), words with a digit ("12OZ", "4K"), words
without a vowel ("TV", "BBQ") and common product acronyms ("USB", "LED"). A name with
any lower-case letter, a single capitalised word ("IKEA") and scripts without case are
left as they came. Reasons carry the source product's name inside a sentence ("Goes with
your COOK WITH WINE METAL SIGN"): only the capitalised run changes.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from titlecase import titlecase

# Sizes and acronyms shoppers read as capitals; vowel-less words are kept anyway.
_KEPT = frozenset(
    {"XS", "XL", "XXL", "XXXL", "USB", "LED", "LCD", "HDMI", "UV", "SPF", "DIY", "USA", "UK", "EU"}
)
_VOWELS = frozenset("AEIOUYÀÁÂÃÄÅÆÈÉÊËÌÍÎÏÒÓÔÕÖØÙÚÛÜÝ")
_SPACES = re.compile(r"(\s+)")
_SIZE = re.compile(r"\d*X{0,3}[SML]")  # S, M, L, XS to XXXL, 2XL
_NAMES_CACHED = 4096


def display_name(value: Any) -> Any:
    """`value` with its runs of capitalised words in title case, sizes, acronyms and
    words with digits kept (see the module docstring); any other text, and anything
    that is not text, as it is."""
    return _display(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=_NAMES_CACHED)
def _display(text: str) -> str:
    if not any(word.isupper() for word in text.split()):
        return text  # most names: a lower-case letter in every word
    pieces = _SPACES.split(text)  # words at even indexes, the spaces between at odd
    run: list[int] = []
    for index in range(0, len(pieces) + 2, 2):  # one past the end closes the last run
        word = pieces[index] if index < len(pieces) else ""
        if word and not _has_lower(word):
            run.append(index)
            continue
        _title_run(pieces, run)
        run = []
    return "".join(pieces)


def _title_run(pieces: list[str], run: list[int]) -> None:
    """Title-case `pieces[run[0]:run[-1] + 1]` in place when it is a shouted run: two or
    more words of three letters or more (a lone "IKEA" or "LED TV" is left alone)."""
    words = [pieces[index] for index in run]
    if sum(_letters(word) >= 3 for word in words) < 2:
        return
    first, last = run[0], run[-1]
    text = "".join(pieces[first : last + 1])
    pieces[first] = str(titlecase(text.lower(), callback=_keep(words)))
    pieces[first + 1 : last + 1] = [""] * (last - first)


def _has_lower(word: str) -> bool:
    return any(c.islower() for c in word)


def _letters(word: str) -> int:
    return sum(c.isalpha() for c in word)


def _keep(words: list[str]) -> Any:
    """titlecase's callback: the original capitals of the words it must not change."""
    originals = {word.lower(): word for word in words if _kept(word)}

    def callback(word: str, **_: Any) -> str | None:
        return originals.get(word.lower())

    return callback


def _kept(word: str) -> bool:
    core = word.strip(".,:;!?()[]\"'")
    return (
        core in _KEPT
        or _SIZE.fullmatch(core) is not None
        or any(c.isdigit() for c in core)
        or (core.isalpha() and not _VOWELS.intersection(core))
    )

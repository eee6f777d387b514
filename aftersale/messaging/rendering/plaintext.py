"""The plain-text part of an email, derived from its HTML part."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "li",
        "ul",
        "ol",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
    }
)
_SKIPPED_TAGS = frozenset({"head", "style", "script", "title", "noscript"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_STRUCK_TAGS = frozenset({"s", "del", "strike"})


@dataclass(frozen=True)
class LinkEnd:
    """The end of a link in a list of text chunks: its text is the chunks from index
    `start` on, `href` its destination as the HTML says it."""

    start: int
    href: str


TextChunks = list[str | LinkEnd]


def html_to_text(html: str, *, was: str = "was") -> str:
    """The readable plain-text version of `html`: paragraphs and headings separated by
    blank lines, line breaks kept, links written as "text (url)", struck-through prices
    as "(was $X)" (`was` in the email's language), and nothing from head/style/script or
    hidden elements."""
    if not html.strip():
        return "\n"
    return join_text(text_chunks(html, was=was))


def text_chunks(html: str, *, was: str) -> TextChunks:
    """The visible text of `html` (not empty) in pieces, links marked where they end
    (see join_text)."""
    chunks: TextChunks = []
    _walk(lxml_html.document_fromstring(html), chunks, was=was)
    return chunks


def join_text(chunks: Sequence[str | LinkEnd], *, href: Callable[[str], str] = str) -> str:
    """The text of `chunks` with tidy whitespace, each link's destination (as `href`
    turns it into a URL) after its text unless the link shows no text or the URL itself.
    An image-only link or an anchor has nothing to show in plain text."""
    written: list[str] = []
    at: list[int] = []  # where each chunk starts in `written`
    for chunk in chunks:
        at.append(len(written))
        if isinstance(chunk, str):
            written.append(chunk)
            continue
        url = href(chunk.href)
        if shows_url(url, link_text("".join(written[at[chunk.start] :]))):
            written.append(f" ({url})")
    return tidy("".join(written))


def link_text(text: str) -> str:
    """A link's `text` as join_text compares it with the URL: one line, whitespace runs
    as one space, none outside."""
    return " ".join(text.split())


def shows_url(url: str, text: str) -> bool:
    """Whether a link of `text` (see link_text) to `url` has its URL written after it."""
    return url.startswith(("http://", "https://", "mailto:")) and bool(text) and text != url


def tidy(text: str) -> str:
    """`text` with each line's whitespace runs as one space and none at its ends, at
    most one blank line in a row, none at the start or end, and a line end at the end."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


def _walk(element: etree._Element, chunks: TextChunks, *, was: str) -> None:
    """Append the visible text of `element` and of its tail to `chunks`."""
    tag = element.tag if isinstance(element.tag, str) else None  # None: a comment
    if tag is not None and not _hidden(tag, element):
        _open(tag, chunks, was=was)
        start = len(chunks)
        if element.text:
            chunks.append(_WHITESPACE.sub(" ", element.text))
        for child in element:
            _walk(child, chunks, was=was)
        _close(tag, element, chunks, start)
    if element.tail:
        chunks.append(_WHITESPACE.sub(" ", element.tail))


def _hidden(tag: str, element: etree._Element) -> bool:
    # The hidden preheader div must not open the text part.
    return tag in _SKIPPED_TAGS or bool(_HIDDEN_STYLE.search(element.get("style") or ""))


def _open(tag: str, chunks: TextChunks, *, was: str) -> None:
    if tag == "br":
        chunks.append("\n")
    elif tag in _BLOCK_TAGS:
        chunks.append("\n\n" if tag in {"p", "h1", "h2", "h3"} else "\n")
    elif tag in {"td", "th"}:
        chunks.append(" ")
    elif tag in _STRUCK_TAGS:
        chunks.append(f" ({was} ")


def _close(tag: str, element: etree._Element, chunks: TextChunks, start: int) -> None:
    if tag in _BLOCK_TAGS:
        chunks.append("\n")
    elif tag in _STRUCK_TAGS:
        chunks.append(")")
    elif tag == "a":
        chunks.append(LinkEnd(start=start, href=element.get("href") or ""))

"""The plain-text part of an email, derived from its HTML part."""

from __future__ import annotations

import re

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
_STRUCK_TAGS = frozenset({"s", "del", "strike"})


def html_to_text(html: str, *, was: str = "was") -> str:
    """The readable plain-text version of `html`: paragraphs and headings separated by
    blank lines, line breaks kept, links written as "text (url)", struck-through prices
    as "(was $X)" (`was` in the email's language), and nothing from head/style/script or
    hidden elements."""
    if not html.strip():
        return "\n"
    chunks: list[str] = []
    _walk(lxml_html.document_fromstring(html), chunks, was=was)
    lines = (" ".join(line.split()) for line in "".join(chunks).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _walk(element: etree._Element, chunks: list[str], *, was: str) -> None:
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


def _open(tag: str, chunks: list[str], *, was: str) -> None:
    if tag == "br":
        chunks.append("\n")
    elif tag in _BLOCK_TAGS:
        chunks.append("\n\n" if tag in {"p", "h1", "h2", "h3"} else "\n")
    elif tag in {"td", "th"}:
        chunks.append(" ")
    elif tag in _STRUCK_TAGS:
        chunks.append(f" ({was} ")


def _close(tag: str, element: etree._Element, chunks: list[str], start: int) -> None:
    if tag in _BLOCK_TAGS:
        chunks.append("\n")
    elif tag in _STRUCK_TAGS:
        chunks.append(")")
    elif tag == "a":
        href = element.get("href") or ""
        text = " ".join("".join(chunks[start:]).split())
        # An image-only link or an anchor has nothing to show in plain text.
        if href.startswith(("http://", "https://", "mailto:")) and text and text != href:
            chunks.append(f" ({href})")

"""The plain-text part of an email, derived from its HTML part."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "li", "ul", "ol",
     "section", "article", "header", "footer", "blockquote"}
)
_SKIPPED_TAGS = frozenset({"head", "style", "script", "title", "noscript"})
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


class _TextExtractor(HTMLParser):
    """Collects visible text; block elements become line breaks, links "text (url)"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip_depth = 0
        self._links: list[tuple[str, int]] = []  # (href, index of the link's first chunk)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            if tag == "br" and not self._skip_depth:
                self.chunks.append("\n")
            return
        if self._skip_depth:
            self._skip_depth += 1
            return
        style = dict(attrs).get("style") or ""
        if tag in _SKIPPED_TAGS or _HIDDEN_STYLE.search(style):
            # The hidden preheader div must not open the text part.
            self._skip_depth = 1
            return
        self._open_visible(tag, dict(attrs))

    def _open_visible(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n\n" if tag in {"p", "h1", "h2", "h3"} else "\n")
        elif tag in {"td", "th"}:
            self.chunks.append(" ")
        elif tag in {"s", "del", "strike"}:
            self.chunks.append(" (was ")
        elif tag == "a":
            self._links.append((attrs.get("href") or "", len(self.chunks)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        if self._skip_depth:
            self._skip_depth -= 1
            return
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        elif tag in {"s", "del", "strike"}:
            self.chunks.append(")")
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())

    def _close_link(self, href: str, start: int) -> None:
        text = " ".join("".join(self.chunks[start:]).split())
        if not href.startswith(("http://", "https://", "mailto:")) or not text:
            return  # an image-only link or an anchor: nothing to show in plain text
        if text != href:
            self.chunks.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.chunks.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The readable plain-text version of `html`: paragraphs and headings separated by
    blank lines, line breaks kept, links written as "text (url)", struck-through prices
    as "(was $X)", and nothing from head/style/script or hidden elements."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

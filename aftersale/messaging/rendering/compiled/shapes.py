"""Finishing emails once per *shape*: the MJML -> HTML -> inlined CSS -> plain text work
done once for every email whose template took the same decisions, then per recipient
only their values written in.

The body template renders with every non-empty plain value a `{{ }}` writes (Markup such
as macro output and a context.Constant such as a phrase pass through as they are)
replaced by a sentinel "\\ue000<n>\\ue001" and
collected, and empty values written as nothing. That version, the *skeleton*, is the same
for every recipient whose email has the same structure, and it gives back the real MJML
when the values are written into it: proved from the template's source where
outputflow.py can, else checked per email against a second, real render (a template
that computes with its own output is rendered the slow way). The skeleton's compiled form,
cached by (skeleton, values written into it), holds the inlined HTML and the plain-text
pieces with slots where values, shop links and the open pixel go.

A value goes into the skeleton itself before compiling ("baked", so it is part of the
cache key) where mrml or css-inline would read or rewrite it: in style attributes, style
elements and comments, where it disappears, and where it has outer or control
whitespace or a backslash (mjml.py decodes mrml's Rust escapes in attributes, which a
backslash could imitate). Everywhere else a value is written as the HTML serializer would write
it. The first email of every compiled form is also rendered the slow way and compared; a
form that differs is never used.
"""

from __future__ import annotations

import dataclasses
import html as html_lib
import importlib.metadata
import inspect
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import compiler as jinja_compiler
from jinja2 import nodes
from markupsafe import Markup, escape

from aftersale.messaging.mime import quoted_piece
from aftersale.messaging.rendering.context import Constant
from aftersale.messaging.rendering.limits import BoundedCode, check_written
from aftersale.messaging.rendering.links import (
    ClickRedirects,
    add_pixel,
    href_matches,
    shop_destination,
)
from aftersale.messaging.rendering.mjml import mjml_to_html
from aftersale.messaging.rendering.plaintext import (
    LinkEnd,
    join_text,
    link_text,
    shows_url,
    text_chunks,
    tidy,
)

if TYPE_CHECKING:
    from jinja2.compiler import Frame

logger = logging.getLogger(__name__)

# FusedOutput overrides private methods of Jinja2's code generator and reads private
# attributes of its frames, which any Jinja2 release may change: it was written against
# this minor version (pyproject.toml bounds jinja2 to it). With another one installed,
# or any of these names missing, the compiled path turns itself off and every email
# renders the plain way (rendering.compiled_emails); test_compiled_path.py fails loudly.
JINJA2_WRITTEN_FOR = "3.1"
# CodeGenerator's methods FusedOutput overrides or calls, with the parameters it relies on.
PRIVATE_CODEGENERATOR_METHODS = {
    "_output_child_pre": ("self", "node", "frame", "finalize"),
    "_output_child_post": ("self", "node", "frame", "finalize"),
    "visit_Getattr": ("self", "node", "frame"),
    "visit_Output": ("self", "node", "frame"),
    "temporary_identifier": ("self",),
    "write": ("self", "x"),
    "writeline": ("self", "x"),
}
# Frame's attributes FusedOutput reads, and the eval context's.
PRIVATE_FRAME_ATTRIBUTES = ("buffer", "require_output_check", "eval_ctx")
PRIVATE_EVAL_CONTEXT_ATTRIBUTES = ("autoescape", "volatile")
# The decorator FusedOutput.visit_Getattr wears; where it is missing (another Jinja2,
# so the compiled path is off) the class is still defined, to be left unused.
_optimizeconst: Any = getattr(jinja_compiler, "optimizeconst", lambda method: method)


def jinja2_problem(version: str | None = None) -> str | None:
    """Why FusedOutput cannot be trusted with the installed Jinja2 (or one of
    `version`): another minor version than JINJA2_WRITTEN_FOR, or a private name it
    uses missing or changed; None when there is nothing against it."""
    version = version or importlib.metadata.version("jinja2")
    written_for = f"Jinja2 {JINJA2_WRITTEN_FOR}.x"
    if version.split(".")[:2] != JINJA2_WRITTEN_FOR.split("."):
        return (
            f"Jinja2 {version} is installed; shapes.FusedOutput uses the private "
            f"jinja2.compiler API (CodeGenerator, Frame) of {written_for}"
        )
    missing = [
        f"CodeGenerator.{name}({', '.join(params)})"
        for name, params in PRIVATE_CODEGENERATOR_METHODS.items()
        if not _takes(getattr(jinja_compiler.CodeGenerator, name, None), params)
    ]
    frame_class = getattr(jinja_compiler, "Frame", None)
    if frame_class is None or not hasattr(jinja_compiler, "optimizeconst"):
        missing.append("jinja2.compiler.Frame and optimizeconst")
    else:
        frame = frame_class(nodes.EvalContext(jinja2.Environment()))
        missing += [f"Frame.{a}" for a in PRIVATE_FRAME_ATTRIBUTES if not hasattr(frame, a)]
        missing += [
            f"EvalContext.{a}"
            for a in PRIVATE_EVAL_CONTEXT_ATTRIBUTES
            if not hasattr(getattr(frame, "eval_ctx", None), a)
        ]
    if missing:
        return (
            f"Jinja2 {version} lacks the private jinja2.compiler API shapes.FusedOutput was "
            f"written for ({written_for}): {', '.join(missing)}"
        )
    return None


def _takes(method: Any, params: tuple[str, ...]) -> bool:
    """Whether `method` is a function whose first parameters are named `params`."""
    if not callable(method):
        return False
    try:
        names = tuple(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return False
    return names[: len(params)] == params


MAX_SHAPES = 256  # skeletons kept per process
MAX_FORMS = 16  # compiled forms kept per skeleton (one per combination of baked values)

_SENTINEL = re.compile("\ue000(\\d+)\ue001")
_PIXEL = "\ue000pixel\ue001"
_SLOT = re.compile(f"{_SENTINEL.pattern}|{_PIXEL}")
_SENTINEL_MARKS = ("\ue000", "\ue001")
_NOT_PLAIN = re.compile(r"\A\s|\s\Z|[\\\x00-\x1f\x7f\ue000-\ue0ff]")
# What html5ever (css-inline's serializer) writes for text, and for attribute values
# ("&" first). Replacing is far faster than str.translate, which looks up every character.
_TEXT_ESCAPES = (("&", "&amp;"), ("\xa0", "&nbsp;"), ("<", "&lt;"), (">", "&gt;"))
_ATTRIBUTE_ESCAPES = (("&", "&amp;"), ("\xa0", "&nbsp;"), ('"', "&quot;"))
_RAW_TEXT = "style|script|noscript|xmp|iframe|noembed|noframes|plaintext"
_TOKEN = re.compile(
    rf"(<({_RAW_TEXT})\b[^>]*>)(.*?)(</\2\s*>)"  # an element whose text is not HTML
    r"|<!--.*?-->|<![^>]*>"  # comments, doctype
    r"|<[A-Za-z][^\s/>]*(?:\s+[^\s/>=]+(?:=\"[^\"]*\")?)*\s*/?>|</[^>]*>",
    re.DOTALL | re.IGNORECASE,
)
_ATTRIBUTE = re.compile(r"\s([^\s/>=]+)=\"([^\"]*)\"")

_collected: ContextVar[list[str] | None] = ContextVar("collected_values", default=None)
# Phrases and the store's details, escaped: the same few in every email.
_escaped_constants: dict[str, Markup] = {}


@jinja2.pass_context
def collect_value(context: Any, value: Any) -> Any:
    """The environments' finalize hook: while a skeleton is rendered, each plain value
    becomes a sentinel and is collected, and an empty one is written as nothing (so
    captured output is empty exactly when the real render's is); otherwise values pass
    unchanged. Taking the context keeps Jinja from folding constants at compile time."""
    return _collected_value(value)


def _collected_value(value: Any) -> Any:
    """`value`'s sentinel while a skeleton is rendered and it is a plain value (see
    collect_value), else `value` itself."""
    check_written(value)
    collected = _collected.get()
    if collected is None or hasattr(value, "__html__") or type(value) is Constant:
        return value
    return _collect(collected, value)


def _collect(collected: list[str], value: Any) -> str:
    written = str(value)
    if not written:
        return ""
    collected.append(written)
    return _sentinel(len(collected) - 1)


def _sentinel(index: int) -> str:
    return _SENTINELS[index] if index < len(_SENTINELS) else f"\ue000{index}\ue001"


_SENTINELS_MADE = 1_000
_SENTINELS = [
    f"\ue000{index}\ue001" for index in range(_SENTINELS_MADE)
]  # made once, not per value


def written_in_html(value: Any) -> Any:
    """`escape(collect_value(value))` in one call: what a `{{ }}` writes with
    autoescape on (see FusedOutput). A sentinel has nothing to escape, Markup (a
    macro's output) is written as it is, a Constant's escaped form is kept."""
    kind = type(value)
    if kind is str:  # most values: _collect without a call
        collected = _collected.get()
        if collected is None:
            return escape(value)
        if not value:
            return ""
        index = len(collected)
        collected.append(value)
        return _SENTINELS[index] if index < _SENTINELS_MADE else _sentinel(index)
    if kind is Markup:
        return value
    if kind is Constant:
        escaped = _escaped_constants.get(value)
        if escaped is None:
            if len(_escaped_constants) >= _WRITTEN_KEPT:
                _escaped_constants.clear()
            escaped = _escaped_constants[value] = escape(value)
        return escaped
    check_written(value)
    collected = _collected.get()
    if collected is None or hasattr(value, "__html__"):
        return escape(value)
    return _collect(collected, value)


def written_in_text(value: Any) -> str:
    """`str(collect_value(value))` in one call: what a `{{ }}` writes with autoescape
    off (see FusedOutput)."""
    return str(_collected_value(value))


# Names a dict has as attributes: `x.items` is the method, never an item.
DICT_ATTRIBUTES = frozenset(dir(dict))


class FusedOutput(BoundedCode):
    """Jinja's code generator writing a `{{ }}` as one call,
    `environment.written_in_html(value)` (or `written_in_text`), instead of
    `escape(environment.finalize(context, value))`: Jinja's own code calls two
    functions and makes a Markup twice per value, about a tenth of a skeleton's render.
    Where autoescape is decided at run time ({% autoescape %} of a variable) it writes
    Jinja's own code, which calls collect_value. Constants are still not folded at
    compile time: the finalize hook takes the context. A template's own stretches of
    text and values are yielded whole (see visit_Output). Private Jinja2 API: used only
    where `jinja2_problem()` finds nothing against the installed Jinja2."""

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile:
            super()._output_child_pre(node, frame, finalize)
        elif frame.eval_ctx.autoescape:
            self.write("environment.written_in_html(")
        else:
            self.write("environment.written_in_text(")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile:
            super()._output_child_post(node, frame, finalize)
        else:
            self.write(")")

    @_optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        # `product.name` on a context's plain dict is its item, as the environment's
        # getattr answers, read here without calling it (a template does ~100 lookups);
        # anything else, a missing key and a dict method's name go through the sandbox.
        if node.attr in DICT_ATTRIBUTES or self.environment.is_async:
            super().visit_Getattr(node, frame)
            return
        held, name = self.temporary_identifier(), repr(node.attr)
        self.write(f"({held}[{name}] if type({held} := ")
        self.visit(node.node, frame)
        self.write(f") is dict and {name} in {held} else environment.getattr({held}, {name}))")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        # Jinja yields each piece of a template's (or block's) own text and values on
        # its own, and every yield passes up through the blocks, the templates it extends
        # and Template.generate. A stretch of three or more pieces is yielded as one:
        # written into a list, then joined. The output cap is still checked per stretch.
        if frame.buffer is not None or frame.require_output_check or len(node.nodes) < 3:
            super().visit_Output(node, frame)
            return
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = []")
        super().visit_Output(node, frame)
        self.writeline(f"yield concat({frame.buffer})")
        frame.buffer = None


def render_skeleton(render: Callable[[], str]) -> tuple[str, list[str]]:
    """The skeleton `render` writes and the values it collected (see collect_value)."""
    values: list[str] = []
    token = _collected.set(values)
    try:
        return render(), values
    finally:
        _collected.reset(token)


@dataclass(frozen=True)
class Finished:
    """An email's HTML and text parts and its tracked destinations by link index;
    `html_quoted` the HTML quoted-printable in pieces when made from a compiled form."""

    html: str
    text: str
    links: tuple[str, ...]
    html_quoted: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    # The plain text the same way (empty when it was tidied per email).
    text_quoted: tuple[bytes, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class Tracking:
    """How a message's links are tagged and tracked."""

    message_id: int
    campaign: str
    content: str
    pixel_src: str


@dataclass(frozen=True)
class _Href:
    """A href attribute's value: `decoded` its text (literals and value indices),
    `written` its HTML (literals and value slots)."""

    decoded: tuple[str | int, ...]
    written: tuple[str | int, ...]


@dataclass(frozen=True)
class _Link:
    start: int
    href: tuple[str | int, ...]


@dataclass(frozen=True)
class _TextLink:
    """A link of the plain-text part: its href and its text (see plaintext.link_text),
    literals and value indices; `in_html` the index in _Form.hrefs of an HTML href
    that is the same (its URL is known by the time the text is written)."""

    href: tuple[str | int, ...]
    text: tuple[str | int, ...]
    in_html: int | None = None


@dataclass(frozen=True)
class _Form:
    """A compiled skeleton: the HTML's literal pieces ("" where a slot goes), the same
    quoted-printable (b""), and its slots as (piece index, what goes there): values
    written as HTML text and as attribute values (value index), hrefs, and the pixel;
    text pieces (literal/value tuples and links) and the text's links in order (None
    when links nest: then the text is tidied per email). `tidied` keeps the tidy text
    by which links show their URL: literals, value indices, and (number of values + k)
    for link k's URL, with its literals quoted-printable (b"" for the others)."""

    html: tuple[str, ...]
    quoted: tuple[bytes, ...]
    text_slots: tuple[tuple[int, int], ...]
    attribute_slots: tuple[tuple[int, int], ...]
    hrefs: tuple[tuple[int, _Href], ...]
    pixels: tuple[int, ...]
    text: tuple[tuple[str | int, ...] | _Link, ...]
    text_links: tuple[_TextLink, ...] | None
    tidied: dict[tuple[bool, ...], tuple[tuple[str | int, ...], tuple[bytes, ...]]] = field(
        default_factory=dict, compare=False
    )


@dataclass
class _Shape:
    """What is known of one skeleton: values that must always be baked, and its
    compiled forms by baked values (None: unusable)."""

    parts: list[str]
    always_baked: set[int] = field(default_factory=set)
    forms: OrderedDict[tuple[tuple[int, str], ...], _Form | None] = field(
        default_factory=OrderedDict
    )


_shapes: OrderedDict[tuple[str, str], _Shape | None] = OrderedDict()
_lock = threading.Lock()


def compiled_forms() -> tuple[int, int]:
    """How many compiled forms are kept: (in use, refused because they differed from
    the slow render or mrml refused the skeleton)."""
    with _lock:
        forms = [f for shape in _shapes.values() if shape for f in shape.forms.values()]
    return sum(f is not None for f in forms), sum(f is None for f in forms)


def forget_shapes() -> None:
    """Drop every cached shape (tests start from nothing)."""
    with _lock:
        _shapes.clear()


def finish_by_shape(
    *,
    skeleton: str,
    values: list[str],
    mjml: str | None,
    was: str,
    tracking: Tracking,
    inline: Callable[[str], str],
    finish_slowly: Callable[[], Finished],
) -> Finished:
    """The finished email of `mjml` (the real body; None when the skeleton is proved to
    give it back) from the compiled form of `skeleton` with `values` written in, or from
    `finish_slowly` when the skeleton does not give back `mjml` or its form cannot be
    trusted (see the module docstring)."""
    shape = _shape(skeleton, values=values, was=was)
    if shape is None or (mjml is not None and _fill_mjml(shape.parts, values, baked=None) != mjml):
        return finish_slowly()
    baked = _baked(shape, values)
    key = tuple((index, values[index]) for index in sorted(baked))
    with _lock:
        known = key in shape.forms
        form = shape.forms.get(key)
    if known:
        return finish_slowly() if form is None else _fill(form, values, tracking)
    slow = finish_slowly()
    form, key = _compile(shape, values, baked=baked, was=was, inline=inline)
    if form is not None and _fill(form, values, tracking) != slow:
        logger.warning("a compiled email shape differs from its slow render; not used")
        form = None
    with _lock:
        shape.forms[key] = form
        while len(shape.forms) > MAX_FORMS:
            shape.forms.popitem(last=False)
    return slow


def _shape(skeleton: str, *, values: list[str], was: str) -> _Shape | None:
    with _lock:
        if (skeleton, was) in _shapes:
            _shapes.move_to_end((skeleton, was))
            return _shapes[(skeleton, was)]
    parts = _SENTINEL.split(skeleton)
    numbered = [int(n) for n in parts[1::2]] == list(range(len(values)))
    clean = not any(c in part for part in parts[::2] for c in "\ue000\ue001")
    shape = _Shape(parts=parts) if numbered and clean else None
    with _lock:
        _shapes[(skeleton, was)] = shape
        while len(_shapes) > MAX_SHAPES:
            _shapes.popitem(last=False)
    return shape


def _baked(shape: _Shape, values: list[str]) -> set[int]:
    with _lock:
        always = set(shape.always_baked)
    if _all_plain(values):  # most emails
        return always
    # The kept answer first: a call per value costs more than the lookup.
    return always | {i for i, v in enumerate(values) if not (_plain.get(v) or _is_plain(v))}


# Joins the values for `_all_plain`: printable, so only the values can make it fail,
# and ASCII, so an email of ASCII values is checked as an ASCII string.
_JOINER = "^"


def _all_plain(values: list[str]) -> bool:
    """Whether every one of `values` is plain (see `_is_plain`), answered at once for
    the whole email: a value that is not has a backslash, or a character that is not
    printable (controls, sentinels and every whitespace but " "), or " " at one end,
    which joined is next to the joiner. Never wrongly True; wrongly False only for a
    value with a space next to a "^", which the value-by-value check then settles."""
    joined = _JOINER.join(values)
    return (
        joined.isprintable()
        and "\\" not in joined
        and not joined.startswith(" ")
        and not joined.endswith(" ")
        and f"{_JOINER} " not in joined
        and f" {_JOINER}" not in joined
    )


def _is_plain(value: str) -> bool:
    """Whether `value` can be written into a compiled form (see the module docstring).
    Kept, as the written forms are: most values repeat from email to email."""
    plain = _plain.get(value)
    if plain is None:
        if len(_plain) >= _WRITTEN_KEPT:
            _plain.clear()
        plain = _plain[value] = not _NOT_PLAIN.search(value)
    return plain


def _fill_mjml(parts: list[str], values: list[str], *, baked: set[int] | None) -> str:
    """The MJML of `parts` with the values written in (all of them when `baked` is
    None, else only the baked ones, the others left as sentinels)."""
    pieces = parts[:]
    for index, value in enumerate(values):
        written = baked is None or index in baked
        pieces[2 * index + 1] = str(escape(value)) if written else f"\ue000{index}\ue001"
    return "".join(pieces)


def _compile(
    shape: _Shape,
    values: list[str],
    *,
    baked: set[int],
    was: str,
    inline: Callable[[str], str],
) -> tuple[_Form | None, tuple[tuple[int, str], ...]]:
    """The form of `shape` with the `baked` values written in, after learning which
    others must be baked too; None when mrml refuses it, baking does not settle or a
    baked value holds a sentinel's marks (the form would have a slot where the value
    only imitates one)."""
    for _ in range(3):
        key = tuple((index, values[index]) for index in sorted(baked))
        if any(mark in value for _, value in key for mark in _SENTINEL_MARKS):
            return None, key
        try:
            page = mjml_to_html(_fill_mjml(shape.parts, values, baked=baked))
        except Exception:  # a sentinel where mrml wants a number: render the slow way
            return None, key
        html = inline(add_pixel(page, src=_PIXEL))
        chunks = text_chunks(page, was=was)
        must_bake = _analyse(html, expected=set(range(len(values))) - baked)
        with _lock:
            shape.always_baked |= must_bake
        wanted = _baked(shape, values)
        if wanted == baked:
            return _form(_html_pieces(html), _text_pieces(chunks)), key
        baked = wanted
    return None, key


def _form(
    html: tuple[str | int | _Href | None, ...], text: tuple[tuple[str | int, ...] | _Link, ...]
) -> _Form:
    """The form of the HTML `html` and text `text` pieces (see _html_pieces, _text_pieces)."""
    literals = tuple(p if isinstance(p, str) else "" for p in html)
    values = [(at, p) for at, p in enumerate(html) if type(p) is int]
    hrefs = tuple((at, p) for at, p in enumerate(html) if isinstance(p, _Href))
    in_html = {href.decoded: n for n, (_, href) in reversed(list(enumerate(hrefs)))}
    text_links = _text_links(text)
    return _Form(
        html=literals,
        quoted=tuple(map(quoted_piece, literals)),
        text_slots=tuple((at, p >> 1) for at, p in values if not p & 1),
        attribute_slots=tuple((at, p >> 1) for at, p in values if p & 1),
        hrefs=hrefs,
        pixels=tuple(at for at, p in enumerate(html) if p is None),
        text=text,
        text_links=text_links
        and tuple(dataclasses.replace(link, in_html=in_html.get(link.href)) for link in text_links),
    )


def _analyse(html: str, *, expected: set[int]) -> set[int]:
    """The values of `expected` that must be baked: written where CSS or comments hold
    them, or nowhere."""
    seen = {int(match.group(1)) for match in _SENTINEL.finditer(html)}
    must_bake: set[int] = set()
    for token in _TOKEN.finditer(html):
        must_bake |= _baked_in_token(token)
    return must_bake | (expected - seen)


def _baked_in_token(token: re.Match[str]) -> set[int]:
    """The values in `token` (a tag, comment, doctype or raw-text element) that CSS,
    scripts or comments hold, or that are outside attribute values."""
    text = token.group(0)
    found = {int(m.group(1)) for m in _SENTINEL.finditer(text)}
    if not found or token.group(1) or not text[1:2].isalpha():  # CSS, scripts, comments
        return found
    outside = _ATTRIBUTE.sub("", text)
    must_bake = {int(m.group(1)) for m in _SENTINEL.finditer(outside)}
    for attribute in _ATTRIBUTE.finditer(text):
        if attribute.group(1).lower() == "style":
            must_bake |= {int(m.group(1)) for m in _SENTINEL.finditer(attribute.group(2))}
    return must_bake


def _html_pieces(html: str) -> tuple[str | int | _Href | None, ...]:
    """`html` cut into literals, value slots (2n text, 2n+1 attribute), hrefs and the
    pixel (None)."""
    in_tags = {
        match.start()
        for token in _TOKEN.finditer(html)
        if not token.group(1)
        for match in _SENTINEL.finditer(html, token.start(), token.end())
    }
    pieces: list[str | int | _Href | None] = []
    done = 0
    for href in href_matches(html):
        pieces += _value_pieces(html, done, href.start(3), in_tags)
        value = html[href.start(3) : href.end(3)]
        written = _value_pieces(html, href.start(3), href.end(3), in_tags)
        decoded = _split_text(value, decode=html_lib.unescape)
        pieces.append(_Href(decoded=decoded, written=tuple(written)))  # type: ignore[arg-type]
        done = href.end(3)
    pieces += _value_pieces(html, done, len(html), in_tags)
    return tuple(pieces)


def _value_pieces(html: str, start: int, end: int, in_tags: set[int]) -> list[str | int | None]:
    """`html[start:end]` cut at its sentinels (a slot 2n+1 inside a tag, 2n in text)
    and at the pixel (None)."""
    pieces: list[str | int | None] = []
    done = start
    for match in _SLOT.finditer(html, start, end):
        pieces.append(html[done : match.start()])
        if match.group(0) == _PIXEL:
            pieces.append(None)
        else:
            index = int(match.group(1))
            pieces.append(2 * index + (match.start() in in_tags))
        done = match.end()
    pieces.append(html[done:end])
    return [p for p in pieces if p != ""]


def _text_pieces(chunks: Sequence[str | LinkEnd]) -> tuple[tuple[str | int, ...] | _Link, ...]:
    """`chunks` with neighbouring strings joined (but not across a link's start) and cut
    at their sentinels; link starts renumbered."""
    starts = {chunk.start for chunk in chunks if isinstance(chunk, LinkEnd)}
    pieces: list[tuple[str | int, ...] | _Link] = []
    renumbered: dict[int, int] = {}
    run: list[str] = []
    for n, chunk in enumerate([*chunks, None]):
        if run and (n in starts or not isinstance(chunk, str)):
            pieces.append(_split_text("".join(run)))
            run = []
        if n in starts:
            renumbered[n] = len(pieces)
        if isinstance(chunk, str):
            run.append(chunk)
        elif isinstance(chunk, LinkEnd):
            pieces.append(
                _Link(start=renumbered.get(chunk.start, len(pieces)), href=_split_text(chunk.href))
            )
    return tuple(pieces)


def _text_links(
    pieces: tuple[tuple[str | int, ...] | _Link, ...],
) -> tuple[_TextLink, ...] | None:
    """The links of the text `pieces` with their tidy text; None when one link's text
    holds another link (its URL would be part of the text)."""
    links = []
    for at, piece in enumerate(pieces):
        if isinstance(piece, _Link):
            inside = pieces[piece.start : at]
            if any(isinstance(p, _Link) for p in inside):
                return None
            text = link_text("".join(_with_sentinels(p) for p in inside))  # type: ignore[arg-type]
            links.append(_TextLink(href=piece.href, text=_split_text(text)))
    return tuple(links)


def _with_sentinels(pieces: tuple[str | int, ...]) -> str:
    return "".join(p if isinstance(p, str) else f"\ue000{p}\ue001" for p in pieces)


def _split_text(text: str, *, decode: Callable[[str], str] = str) -> tuple[str | int, ...]:
    """`text` cut into literals (through `decode`, none empty) and the indices of its
    sentinels."""
    pieces: list[str | int] = []
    done = 0
    for match in _SENTINEL.finditer(text):
        pieces += [decode(text[done : match.start()]), int(match.group(1))]
        done = match.end()
    pieces.append(decode(text[done:]))
    return tuple(p for p in pieces if p != "")


_WHITESPACE = re.compile(r"\s+")
_WRITTEN_KEPT = 20_000  # values whose written forms are kept (then forgotten at once)
_HTML_ESCAPES = (_TEXT_ESCAPES, _ATTRIBUTE_ESCAPES)


def _escaped(value: str, *, attribute: bool) -> str:
    """`value` as html5ever writes it in text, or in an attribute value."""
    for char, escape_ in _HTML_ESCAPES[attribute]:
        value = value.replace(char, escape_)
    return value


# value -> (its HTML, that quoted-printable), for HTML text and for attribute values.
_written_in_html: tuple[dict[str, tuple[str, bytes]], ...] = ({}, {})
_written_in_text: dict[str, str] = {}
_quoted_in_text: dict[str, bytes] = {}  # a value or URL as the text writes it -> QP
_plain: dict[str, bool] = {}


def _in_html(value: str, *, attribute: bool) -> tuple[str, bytes]:
    """`value` as HTML text or an attribute value writes it, and that
    quoted-printable. Kept: most values (names, prices, phrases) repeat from email to
    email."""
    kept = _written_in_html[attribute]
    written = kept.get(value)
    if written is None:
        if len(kept) >= _WRITTEN_KEPT:
            kept.clear()
        html = _escaped(value, attribute=attribute)
        written = kept[value] = (html, quoted_piece(html))
    return written


def _in_text(value: str) -> str:
    """`value` as the plain-text part writes it: whitespace runs as one space."""
    written = _written_in_text.get(value)
    if written is None:
        if len(_written_in_text) >= _WRITTEN_KEPT:
            _written_in_text.clear()
        written = _written_in_text[value] = _WHITESPACE.sub(" ", value)
    return written


def _fill(form: _Form, values: list[str], tracking: Tracking) -> Finished:
    redirects = ClickRedirects(message_id=tracking.message_id)

    def tagged(url: str) -> str | None:
        return shop_destination(url, redirects.own_prefix, tracking.campaign, tracking.content)

    html = list(form.html)
    quoted = list(form.quoted)
    # The kept written forms are looked up here: a call per value costs more.
    in_text, in_attribute = _written_in_html
    for at, index in form.text_slots:
        value = values[index]
        html[at], quoted[at] = in_text.get(value) or _in_html(value, attribute=False)
    for at, index in form.attribute_slots:
        value = values[index]
        html[at], quoted[at] = in_attribute.get(value) or _in_html(value, attribute=True)
    # decoded href -> its HTML, that quoted-printable, and the URL the text part shows
    written_links: dict[str, tuple[str, bytes, str]] = {}  # an email repeats its links
    urls = []  # by href slot: the URL the text part shows for it
    for at, href in form.hrefs:
        decoded = _join(href.decoded, values)
        written = written_links.get(decoded)
        if written is None:
            destination = tagged(decoded)
            if destination is None:  # the message's own links (unsubscribe), mailto:
                link = _written_href(href, values)
            else:
                link = redirects.redirect(destination)
            written = written_links[decoded] = (link, quoted_piece(link), destination or decoded)
        html[at], quoted[at], url = written
        urls.append(url)
    for at in form.pixels:
        html[at], quoted[at] = tracking.pixel_src, quoted_piece(tracking.pixel_src)

    def written_href(href: str) -> str:
        return tagged(href) or href

    text, text_quoted = _text(form, values, written_href, urls)
    return Finished(
        html="".join(html),
        text=text,
        links=tuple(redirects.destinations),
        html_quoted=tuple(quoted),
        text_quoted=text_quoted,
    )


def _text(
    form: _Form, values: list[str], written_href: Callable[[str], str], html_urls: list[str]
) -> tuple[str, tuple[bytes, ...]]:
    """The plain-text part, and the same quoted-printable in pieces (see
    mime.quoted_piece; empty when the text had to be tidied here): the form's tidy text
    with the values and the shown URLs (`html_urls` those of the HTML's hrefs) written
    in. That is the tidy text of the email, as a written value never has whitespace
    outside or a run of it inside (baked values may, see _NOT_PLAIN) and a URL none at
    all; otherwise it is tidied here (join_text)."""
    if form.text_links is None:
        return _joined_text(form, values, written_href), ()
    urls = []
    shown = []
    for link in form.text_links:
        if not link.text:  # an image-only link or an anchor never shows its URL
            urls.append("")
            shown.append(False)
            continue
        if link.in_html is None:
            url = written_href(_join(link.href, values))
        else:
            url = html_urls[link.in_html]
        show = shows_url(url, _join(link.text, values, written=_in_text))
        if show and not _one_word(url):
            return _joined_text(form, values, written_href), ()
        urls.append(url)
        shown.append(show)
    tidied = form.tidied.get(shape := tuple(shown))
    if tidied is None:
        if len(form.tidied) >= MAX_FORMS:
            form.tidied.clear()
        pieces = _tidied(form.text, shape, values=len(values))
        literals = tuple(quoted_piece(p) if type(p) is str else b"" for p in pieces)
        tidied = form.tidied[shape] = (pieces, literals)
    count = len(values)
    kept, quoted = _written_in_text, _quoted_in_text  # looked up here: a call costs more
    written = [
        p  # type: ignore[misc]
        if type(p) is str
        else (kept.get(values[p]) or _in_text(values[p]))  # type: ignore[index]
        if p < count  # type: ignore[operator]
        else urls[p - count]  # type: ignore[operator]
        for p in tidied[0]
    ]
    return "".join(written), tuple(
        [
            literal or quoted.get(piece) or _quoted_text(piece)
            for piece, literal in zip(written, tidied[1], strict=True)
        ]
    )


def _quoted_text(text: str) -> bytes:
    """`text`, a value or URL as the plain-text part writes it, as a quoted-printable
    piece (mime.quoted_piece). Kept: values and shop links repeat from email to email."""
    if len(_quoted_in_text) >= _WRITTEN_KEPT:
        _quoted_in_text.clear()
    piece = _quoted_in_text[text] = quoted_piece(text)
    return piece


def _one_word(url: str) -> bool:
    return url.isprintable() and " " not in url


def _tidied(
    pieces: tuple[tuple[str | int, ...] | _Link, ...], shown: tuple[bool, ...], *, values: int
) -> tuple[str | int, ...]:
    """The tidy text of `pieces` with sentinels for the values and for the URLs of the
    `shown` links (numbered from `values` on), cut at them (see _Form.tidied)."""
    written: list[str] = []
    link = 0
    for piece in pieces:
        if not isinstance(piece, _Link):
            written.append(_with_sentinels(piece))
            continue
        if shown[link]:
            written.append(f" (\ue000{values + link}\ue001)")
        link += 1
    return _split_text(tidy("".join(written)))


def _joined_text(form: _Form, values: list[str], written_href: Callable[[str], str]) -> str:
    """The plain-text part tidied from the form's text pieces with the values in."""
    chunks: list[str | LinkEnd] = []
    for text_piece in form.text:
        if isinstance(text_piece, _Link):
            chunks.append(LinkEnd(start=text_piece.start, href=_join(text_piece.href, values)))
        else:
            chunks.append(_join(text_piece, values, written=_in_text))
    return join_text(chunks, href=written_href)


def _written_href(href: _Href, values: list[str]) -> str:
    """The HTML of a href that is not a shop link, with its values in."""
    return "".join(
        [
            p if type(p) is str else _escaped(values[p >> 1], attribute=bool(p & 1))  # type: ignore[operator]
            for p in href.written
        ]
    )


def _join(
    pieces: tuple[str | int, ...], values: list[str], *, written: Callable[[str], str] = str
) -> str:
    if len(pieces) == 1:  # a literal or a value alone (see _split_text)
        piece = pieces[0]
        return piece if type(piece) is str else written(values[piece])  # type: ignore[index]
    return "".join([p if type(p) is str else written(values[p]) for p in pieces])  # type: ignore[misc,index]

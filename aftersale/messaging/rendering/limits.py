"""What one render of merchant code may do: how many loop iterations and calls, how long,
how big a value and how big the output. Every render counts its loop iterations and
calls (a deterministic budget) and reads time.monotonic() at each, so a runaway
template is stopped in any thread, not only where signals work; every operation that can
make a big value (repeating, adding, formatting, the growing filters and string
methods, `~`, writing a container out) is checked before it runs. Far above any real
email, far below what would hurt a worker."""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import markup_join, str_join
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

MAX_OPERATIONS = 2_000_000  # loop iterations and calls, per render of one part
MAX_SECONDS = 2.0  # per email, all its parts
MAX_OUTPUT_CHARS = 2_000_000
MAX_VALUE_SIZE = 1_000_000  # characters of a text, or items and characters of a container
MAX_NUMBER_BITS = 10_000  # about 3,000 digits
MAX_RANGE = 1_000
MAX_RANGE_ITEMS_PER_RENDER = 20_000  # nested loops multiply: this bounds their total
MAX_SOURCE_CHARS = 256_000  # a template's own text, per part

# The names the bounding code generator gives its own filters: not names a template
# can write, so a merchant cannot call or replace them.
LOOP_FILTER = "aftersale loop"
JOIN_FILTER = "aftersale join"


class LimitExceeded(Exception):
    """A render went over one of the limits; the message says which ("over 1,000,000
    characters or items")."""


@dataclass(slots=True)
class _Budget:
    """What is left of one render's operations and range() items, and when it must end."""

    operations: int
    range_items: int
    deadline: float

    def spend(self) -> None:
        self.operations -= 1
        if self.operations < 0:
            raise LimitExceeded(f"over {MAX_OPERATIONS:,} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"took over {MAX_SECONDS:g} s")


_budget: ContextVar[_Budget | None] = ContextVar("render_budget", default=None)
_deadline: ContextVar[float | None] = ContextVar("render_deadline", default=None)


@contextmanager
def one_email() -> Iterator[None]:
    """Every render inside shares one deadline, MAX_SECONDS from now (an email's parts)."""
    token = _deadline.set(time.monotonic() + MAX_SECONDS)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def one_render() -> Iterator[None]:
    """A render of one part: a fresh count of operations and range() items, against the
    email's deadline (see `one_email`), else MAX_SECONDS from now."""
    deadline = _deadline.get() or time.monotonic() + MAX_SECONDS
    token = _budget.set(_Budget(MAX_OPERATIONS, MAX_RANGE_ITEMS_PER_RENDER, deadline))
    try:
        yield
    finally:
        _budget.reset(token)


def spend() -> None:
    """Count one operation (a call) of the current render; LimitExceeded when it is over
    its operations or its time."""
    budget = _budget.get()
    if budget is not None:
        budget.spend()


def check_source(source: str) -> None:
    """LimitExceeded when a template's text is over MAX_SOURCE_CHARS."""
    if len(source) > MAX_SOURCE_CHARS:
        raise LimitExceeded(f"its text is over {MAX_SOURCE_CHARS:,} characters")


# --- sizes ----------------------------------------------------------------------------


def size(value: Any) -> int:
    """How big `value` is as the limits count it: a text's characters; a container's
    items plus what they hold, counted until the total is over MAX_VALUE_SIZE (so a
    container holding itself is over too); anything else 0."""
    if isinstance(value, str):  # the common case, without the walk
        return len(value)
    total, pending = 0, [value]
    while pending and total <= MAX_VALUE_SIZE:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            pending += item.keys()
            pending += item.values()
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            pending += item
        elif isinstance(item, Namespace):  # written out, it shows what it holds
            pending.append(object.__getattribute__(item, "_Namespace__attrs"))
    return total


def check_size(estimate: int) -> None:
    """LimitExceeded when a value of `estimate` characters or items would be too big."""
    if estimate > MAX_VALUE_SIZE:
        raise LimitExceeded(f"a value over {MAX_VALUE_SIZE:,} characters or items")


def checked(value: Any) -> Any:
    """`value`, after checking that it is not too big (see `size`)."""
    if type(value) is not str or len(value) > MAX_VALUE_SIZE:
        check_size(size(value))
    return value


def check_written(value: Any) -> None:
    """Before a `{{ }}` writes `value` out: a container is written with all it holds."""
    if not isinstance(value, str | int | float) and value is not None:
        check_size(size(value))


def _check_bits(bits: int) -> None:
    if bits > MAX_NUMBER_BITS:
        raise LimitExceeded(f"a number over {MAX_NUMBER_BITS:,} bits")


def check_binop(op: str, left: Any, right: Any) -> None:
    """LimitExceeded when `left op right` would make a value or number too big."""
    if op == "*":
        _check_product(left, right)
    elif op == "**":
        if type(left) is int and type(right) is int and right > 0:
            _check_bits(left.bit_length() * right)
    elif op == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            check_size(size(left) + size(right))
    elif op == "%" and isinstance(left, str):
        check_printf(left, right)


def _check_product(left: Any, right: Any) -> None:
    if type(left) is int and type(right) is int:
        _check_bits(left.bit_length() + right.bit_length())
        return
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            check_size(size(seq) * times)


# A printf conversion: (mapping key), flags, width, precision, type.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
_NUMBER_IN_SPEC = re.compile(r"\d+")


def check_printf(template: str, args: Any) -> None:
    """LimitExceeded when `template % args` (or the format filter) could be too big: its
    fields, each at most the widest width asked for or everything the arguments hold."""
    fields = _PRINTF.findall(template)
    widths = [int(n) for w, p, _ in fields for n in (w, p) if n.isdigit()]
    if any(w == "*" or p == "*" for w, p, _ in fields):
        widths += [a for a in (args if isinstance(args, tuple) else (args,)) if type(a) is int]
    _check_fields(template, len(fields), widths, args)


def check_str_format(template: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The same for `template.format(*args, **kwargs)`: its replacement fields, their
    format specs' widths (those taken from arguments: the integers given)."""
    try:
        fields = [
            spec for _, name, spec, _ in string.Formatter().parse(template) if name is not None
        ]
    except ValueError:
        return  # str.format will say what is wrong with it
    widths = [int(n) for spec in fields for n in _NUMBER_IN_SPEC.findall(spec or "")]
    if any("{" in (spec or "") for spec in fields):
        widths += [a for a in (*args, *kwargs.values()) if type(a) is int]
    _check_fields(template, len(fields), widths, (args, kwargs))


def _check_fields(template: str, fields: int, widths: list[int], args: Any) -> None:
    widest = max(widths, default=0)
    check_size(widest)
    check_size(len(template) + fields * (widest + size(args)))


# --- the growing filters, globals and string methods -------------------------------------


def _lines(value: Any) -> int:
    return str(value).count("\n") + 1 if isinstance(value, str) else 1


# How big each growing filter's result can get, from its arguments as Jinja passes them.
_FILTER_ESTIMATES: dict[str, Callable[..., int]] = {
    "center": lambda value, width=80: size(value) + abs(int(width)),
    "indent": lambda s, width=4, *_, **__: (
        size(s) + _lines(s) * (len(width) if isinstance(width, str) else abs(int(width)))
    ),
    "wordwrap": lambda env, s, width=79, long=True, wrapstring=None, *_, **__: (
        size(s) * (1 + len(wrapstring or "\n"))
    ),
    "join": lambda eval_ctx, value, d="", *_, **__: size(value) + len(value) * len(str(d)),
    "replace": lambda eval_ctx, s, old, new, count=None: (
        size(s) + (str(s).count(str(old)) + 1) * len(str(new))
    ),
    "batch": lambda value, linecount, fill_with=None: abs(int(linecount)),
    "slice": lambda value, slices, fill_with=None: abs(int(slices)),
}


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Filter `name` checked: its arguments are not too big, nor (for the growing ones,
    see _FILTER_ESTIMATES) what it would make, nor what it made. Keeps what Jinja reads
    of the filter (pass_context and the like)."""
    estimate = _FILTER_ESTIMATES.get(name)

    @wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        if name == "join" and len(args) > 1 and not hasattr(args[1], "__len__"):
            args = (args[0], list(args[1]), *args[2:])  # to know how many it joins
        for value in args:
            if type(value) is not str or len(value) > MAX_VALUE_SIZE:
                check_size(size(value))
        if estimate is not None:
            check_size(_estimated(estimate, args, kwargs))
        if name == "format" and args:
            check_printf(str(args[0]), args[1:] or kwargs)
        return checked(function(*args, **kwargs))

    return run


def _estimated(estimate: Callable[..., int], args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """What `estimate` says of these arguments; 0 when they are wrong, for the filter or
    method itself to say how."""
    try:
        return estimate(*args, **kwargs)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return 0


def bounded_lipsum(function: Callable[..., str]) -> Callable[..., str]:
    """The lipsum() global, refused when its paragraphs could be too many or too long."""

    @wraps(function)
    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        check_size(abs(int(n)) * abs(int(max)) * 12)  # a word and its space: ~12 characters
        return function(n, html, min, max)

    return lipsum


def capped_range(*args: int) -> range:
    """range() for templates: at most MAX_RANGE items, and MAX_RANGE_ITEMS_PER_RENDER in
    all the range() calls of one render."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise LimitExceeded(f"range() of {len(rng):,} items, over {MAX_RANGE:,}")
    budget = _budget.get()
    if budget is not None:
        budget.range_items -= len(rng)
        if budget.range_items < 0:
            raise LimitExceeded(f"range() calls over {MAX_RANGE_ITEMS_PER_RENDER:,} items in all")
    return rng


# String methods that make a bigger text than their own, and how big.
_METHOD_ESTIMATES: dict[str, Callable[..., int]] = {
    "center": lambda s, width, *_: len(s) + abs(int(width)),
    "ljust": lambda s, width, *_: len(s) + abs(int(width)),
    "rjust": lambda s, width, *_: len(s) + abs(int(width)),
    "zfill": lambda s, width: len(s) + abs(int(width)),
    "expandtabs": lambda s, tabsize=8: len(s) * (1 + abs(int(tabsize))),
    "join": lambda s, items: size(items) + len(s) * len(items),
    "replace": lambda s, old, new, count=-1: len(s) + (s.count(old) + 1) * size(new),
    "translate": lambda s, table: (
        len(s) * (1 + max(map(size, table.values()), default=0))
        if isinstance(table, dict)
        else len(s)
    ),
}
# Methods that grow what they are called on.
_GROWING = frozenset({"append", "extend", "insert", "update", "add", "setdefault"})


def check_call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Before a template calls `function`: count the call, and refuse a string method
    that would make too big a text; the arguments to call it with (the items a string
    joins as a list, to know how many)."""
    spend()
    owner = getattr(function, "__self__", None)
    if isinstance(owner, str):
        name = getattr(function, "__name__", "")
        if name == "join" and len(args) == 1 and not hasattr(args[0], "__len__"):
            args = (list(args[0]),)
        estimate = _METHOD_ESTIMATES.get(name)
        if estimate is not None:
            check_size(_estimated(estimate, (owner, *args), kwargs))
    return args


def check_called(function: Any, result: Any) -> Any:
    """After the call: `result`, if neither it nor a container the method grew is too big."""
    owner: Any = getattr(function, "__self__", None)
    if getattr(function, "__name__", "") in _GROWING and hasattr(owner, "__len__"):
        check_size(len(owner))
    return checked(result)


# --- loops and `~`, counted and checked where Jinja compiles them -------------------------


@jinja2.pass_context
def counted_loop(context: Any, iterable: Iterable[Any]) -> Iterable[Any]:
    """A for loop's items, each counted as an operation of the current render (see
    `spend`). Takes the context so Jinja never runs it at compile time."""
    budget = _budget.get()
    return iterable if budget is None else _counted(iterable, budget)


def _counted(iterable: Iterable[Any], budget: _Budget) -> Iterator[Any]:
    for item in iterable:
        budget.spend()
        yield item


@jinja2.pass_eval_context
def checked_join(eval_ctx: nodes.EvalContext, parts: list[Any]) -> str:
    """`a ~ b ~ c` as Jinja writes it (escaped and joined as Markup with autoescape),
    refused when the parts together are too big."""
    check_size(sum(map(size, parts)))
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


class _Bounding(NodeTransformer):
    """Rewrites a template's tree so every for loop's items (and those a recursive loop
    is called again with) go through LOOP_FILTER and every `~` through JOIN_FILTER."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)  # changes the node's fields in place
        node.iter = _filtered(node.iter, LOOP_FILTER)
        if node.recursive:
            for call in node.find_all(nodes.Call):
                if isinstance(call.node, nodes.Name) and call.node.name == "loop" and call.args:
                    call.args[0] = _filtered(call.args[0], LOOP_FILTER)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.List(node.nodes, lineno=node.lineno)
        return _filtered(parts, JOIN_FILTER)


def _filtered(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class BoundedCode(CodeGenerator):
    """Jinja's code generator, compiling a template whose loops are counted and whose
    `~` are checked (see _Bounding): the tree is rewritten with Jinja's public node
    classes before Jinja's own generator writes it."""

    def visit_Template(self, node: nodes.Template, frame: Any = None) -> None:
        super().visit_Template(_Bounding().visit(node), frame)


def install(environment: jinja2.Environment) -> None:
    """Give `environment` the bounded filters, range() and lipsum(), and the filters
    BoundedCode compiles loops and `~` to."""
    environment.filters = {
        name: bounded_filter(name, function) for name, function in environment.filters.items()
    }
    environment.filters[LOOP_FILTER] = counted_loop
    environment.filters[JOIN_FILTER] = checked_join
    environment.globals["range"] = capped_range
    environment.globals["lipsum"] = bounded_lipsum(environment.globals["lipsum"])  # type: ignore[arg-type]

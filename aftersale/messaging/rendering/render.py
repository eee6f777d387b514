"""Turning a template and a context into a finished email: sandboxed Jinja2 -> MJML ->
HTML (mrml) -> UTM-tagged links -> plain-text part -> click-tracked links and open pixel
-> inlined CSS (css-inline).

That plain render is the reference. A tracked email normally goes the compiled way
instead (shapes.py, outputflow.py, shapes.FusedOutput, built on Jinja2's private code
generator), which gives the same bytes far faster; `compiled_emails()` decides, from the
COMPILED_EMAILS setting (AFTERSALE_COMPILED_EMAILS) and the installed Jinja2."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import css_inline
import jinja2
from babel import Locale
from django.conf import settings
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from aftersale.messaging.models import EmailTemplate, Message
from aftersale.messaging.rendering.compiled.outputflow import only_written_out
from aftersale.messaging.rendering.compiled.shapes import (
    DICT_ATTRIBUTES,
    Finished,
    FusedOutput,
    Tracking,
    collect_value,
    finish_by_shape,
    jinja2_problem,
    render_skeleton,
    written_in_html,
    written_in_text,
)
from aftersale.messaging.rendering.context import Context, EmailFacts, context_for, message_facts
from aftersale.messaging.rendering.limits import (
    MAX_OUTPUT_CHARS,
    BoundedCode,
    LimitExceeded,
    check_binop,
    check_call,
    check_called,
    check_source,
    check_str_format,
    check_written,
    one_email,
    one_render,
)
from aftersale.messaging.rendering.limits import install as install_limits
from aftersale.messaging.rendering.links import (
    add_open_pixel,
    open_pixel_url,
    tag_links,
    track_links,
)
from aftersale.messaging.rendering.locale import (
    FALLBACK_LANGUAGE,
    formatting_locale,
    parse_locale,
    recipient_locale,
    variant_candidates,
)
from aftersale.messaging.rendering.mjml import mjml_to_html
from aftersale.messaging.rendering.names import display_name
from aftersale.messaging.rendering.plaintext import html_to_text
from aftersale.messaging.rendering.template_library import LIBRARY_DIR

logger = logging.getLogger(__name__)

_CACHE_SIZE = 256


class TemplateError(Exception):
    """A merchant template that cannot be rendered; says which template, where and why.
    `part` is the part at fault ("subject", "preheader" or "body"; "" when unknown) and
    `line` the line of that part's source, when known."""

    def __init__(self, *, slug: str, problem: str, line: int | None = None, part: str = "") -> None:
        self.slug, self.problem, self.line, self.part = slug, problem, line, part
        where = f" line {line}" if line else ""
        super().__init__(f"template {slug!r}{where}: {problem}")


class TemplateLimitExceeded(TemplateError):
    """A merchant template that went over a limit of what one render may do (see
    limits.py): too many loop iterations or calls, too long, too big a value or output."""

    def __init__(self, *, slug: str, limit: str, line: int | None = None, part: str = "") -> None:
        super().__init__(slug=slug, problem=f"exceeded its limits: {limit}", line=line, part=part)


@dataclass(frozen=True)
class RenderedEmail:
    """One recipient's finished email; `links` are the destinations of its tracked
    links by index (empty when rendered without tracking), for the message to record."""

    subject: str
    preheader: str
    html: str
    text: str
    links: tuple[str, ...] = ()
    # The HTML quoted-printable in pieces, when finished from a compiled form (mime.py).
    html_quoted: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    # The plain text the same way, when the compiled form had it (mime.py).
    text_quoted: tuple[bytes, ...] = field(default=(), repr=False, compare=False)


class _GuardedEnvironment(SandboxedEnvironment):
    """The sandbox plus the limits of one render (limits.py): operators, calls, filters
    and str.format checked before they make too big a value, loops and calls counted,
    with Jinja2's own code generator rewriting loops and `~` first
    (limits.BoundedCode): the plain render."""

    code_generator_class = BoundedCode
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        check_binop(op, left, right)
        return super().call_binop(context, op, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = check_call(__obj, args, kwargs)
        return check_called(__obj, super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        sandboxed = super().wrap_str_format(value)
        if sandboxed is None:
            return None
        template, takes_map = value.__self__, value.__name__ == "format_map"

        def format_checked(*args: Any, **kwargs: Any) -> str:
            if takes_map and args and isinstance(args[0], dict):
                check_str_format(template, (), args[0])
            else:
                check_str_format(template, args, kwargs)
            return sandboxed(*args, **kwargs)

        return functools.update_wrapper(format_checked, value)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A plain dict instead of Jinja's ChainMap over the environment's globals: every
        # render copies its template's globals, and copying a ChainMap takes longer than
        # rendering a subject line. The environment's globals are set before any template
        # is compiled and never change.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The context is plain dicts: `product.name` is an item. Jinja would try the
        # attribute first and take the item after an AttributeError, which costs more
        # than the rest of the lookup; same answer for every name a dict has no
        # attribute of.
        if type(obj) is dict and attribute not in DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


class _CompiledEnvironment(_GuardedEnvironment):
    """The same sandbox compiling a `{{ }}` into one call (shapes.FusedOutput), for the
    compiled way; its finalize hook collects a skeleton's values (shapes.collect_value)."""

    code_generator_class = FusedOutput
    written_in_html = staticmethod(written_in_html)
    written_in_text = staticmethod(written_in_text)


def _environment(*, html: bool, compiled: bool) -> SandboxedEnvironment:
    env = (_CompiledEnvironment if compiled else _GuardedEnvironment)(
        loader=jinja2.FileSystemLoader(LIBRARY_DIR / "partials") if html else None,
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        finalize=collect_value if compiled else _checked_output,
    )
    env.filters["display_name"] = display_name
    install_limits(env)
    return env


def _checked_output(value: Any) -> Any:
    # The plain render's finalize hook: what a `{{ }}` writes, checked as the compiled
    # way's hooks check it (shapes.collect_value).
    check_written(value)
    return value


# Built once per process: compiling the partials and the sandbox tables is not free.
# The compiled way's environments (nothing is compiled with them until it is used).
_HTML_ENV = _environment(html=True, compiled=True)
_TEXT_ENV = _environment(html=False, compiled=True)
# The plain render's: Jinja2's own code generator, no finalize hook.
_PLAIN_HTML_ENV = _environment(html=True, compiled=False)
_PLAIN_TEXT_ENV = _environment(html=False, compiled=False)
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
_CacheKey = tuple[int, dt.datetime, str, str, bool]
_cache: OrderedDict[_CacheKey, tuple[str, jinja2.Template]] = OrderedDict()
_cache_lock = threading.Lock()
_PART_FIELDS = {"subject": "subject", "preheader": "preheader", "body": "body_mjml"}


def compiled_emails() -> bool:
    """Whether tracked emails go the compiled way (shapes.py, outputflow.py,
    shapes.FusedOutput) rather than the plain render: the COMPILED_EMAILS setting
    (AFTERSALE_COMPILED_EMAILS, default true), and only while the installed Jinja2 is
    the one whose private API the compiled way was written against. With another
    Jinja2 it turns itself off with a warning, logged once, and the plain render (the
    reference the compiled way is tested against) takes over."""
    return bool(settings.COMPILED_EMAILS) and _compiled_way_works()


@functools.cache
def _compiled_way_works() -> bool:
    problem = jinja2_problem()
    if problem is not None:
        logger.warning("compiled emails are off, every email renders the plain way: %s", problem)
    return problem is None


def choose_variant(*, template: EmailTemplate, wanted: Locale) -> str:
    """Which text of `template` a reader of `wanted` gets, the most specific first: the
    key of its translation for the exact locale ("de_CH") or the language ("de"), or ""
    for the template's own text when that is in the locale or language, and "" (its own
    text) when nothing fits."""
    return _localized(template.locale, _translated(template), wanted)[0]


def localize(*, template: EmailTemplate, wanted: Locale) -> tuple[str, Locale]:
    """For a reader of `wanted`: the variant of `template` to render (see
    `choose_variant`) and the locale to write its amounts and dates in, which is in the
    variant's language so a sentence never mixes two languages' formats."""
    return _localized(template.locale, _translated(template), wanted)


def _translated(template: EmailTemplate) -> tuple[str, ...]:
    """The locales `template` has a translation for."""
    return tuple(template.translations) if isinstance(template.translations, dict) else ()


# Every email of a batch asks the same few questions.
@functools.lru_cache(maxsize=1024)
def _localized(own_locale: str, translated: tuple[str, ...], wanted: Locale) -> tuple[str, Locale]:
    variant = _variant(own_locale, translated, wanted)
    text_locale = parse_locale(variant or own_locale)
    language = str(text_locale.language) if text_locale is not None else FALLBACK_LANGUAGE
    return variant, formatting_locale(wanted=wanted, text_language=language)


def _variant(own_locale: str, translated: tuple[str, ...], wanted: Locale) -> str:
    own = parse_locale(own_locale)
    own_codes = {str(own), own.language} if own is not None else set()
    for code in variant_candidates(wanted):
        if code in translated:
            return code
        if code in own_codes:
            return ""
    return ""


def template_source(*, template: EmailTemplate, part: str, locale: str = "") -> str:
    """The source of `part` ("subject", "preheader" or "body") of `template`'s text in
    `locale` ("" for its own text); a translation missing that part is a TemplateError."""
    field = _PART_FIELDS[part]
    if not locale:
        return str(getattr(template, field))
    translation = (template.translations or {}).get(locale)
    value = translation.get(field) if isinstance(translation, dict) else None
    if not isinstance(value, str):
        raise TemplateError(
            slug=template.slug, problem=f"translation {locale!r} has no text for {field!r}"
        )
    return value


def compile_template(
    *, template: EmailTemplate, part: str, locale: str = "", compiled: bool | None = None
) -> jinja2.Template:
    """The compiled Jinja template for `part` ("subject", "preheader" or "body") of
    `template` in variant `locale` ("" for its own text), for the compiled way when
    `compiled` (None: as `compiled_emails()` says) else for the plain render, from a
    cache keyed by (id, updated_at, locale, part, way) so an edit is seen at once;
    raises TemplateError with the line number for a syntax error."""
    if compiled is None:
        compiled = compiled_emails()
    source = template_source(template=template, part=part, locale=locale)
    if template.pk is None:  # an unsaved draft, e.g. a live preview
        return _compile(source, slug=template.slug, html=part == "body", compiled=compiled)
    key = (template.pk, template.updated_at, locale, part, compiled)
    with _cache_lock:
        cached = _cache.get(key)
        # Comparing the source too guards against an edit that forgot to bump updated_at.
        if cached is not None and cached[0] == source:
            _cache.move_to_end(key)
            return cached[1]
    made = _compile(source, slug=template.slug, html=part == "body", compiled=compiled)
    with _cache_lock:
        _cache[key] = (source, made)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return made


def _compile(source: str, *, slug: str, html: bool, compiled: bool) -> jinja2.Template:
    if compiled:
        env = _HTML_ENV if html else _TEXT_ENV
    else:
        env = _PLAIN_HTML_ENV if html else _PLAIN_TEXT_ENV
    try:
        check_source(source)
        return env.from_string(source)
    except LimitExceeded as exc:
        raise TemplateLimitExceeded(slug=slug, limit=str(exc)) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            slug=slug, problem=f"syntax error: {exc.message}", line=exc.lineno
        ) from exc


def render_template(
    *,
    template: EmailTemplate,
    context: Context,
    campaign: str,
    message_id: int | None = None,
    locale: str = "",
) -> RenderedEmail:
    """Render `template`'s text in variant `locale` ("" for its own text) for one
    recipient's `context`: subject and preheader as single lines, MJML body to inlined
    HTML with UTM-tagged links (utm_campaign=`campaign`, utm_content=the template slug),
    and a plain-text part. With `message_id`, the HTML's shop links go through that
    message's click redirect and it carries an open pixel; the plain text always shows
    the (tagged) destinations themselves. Any problem in the merchant's code, including a
    sandbox violation, raises TemplateError; nothing unsafe runs. A tracked email goes
    the compiled way when `compiled_emails()`, to the same result. Every render of it
    is bounded (limits.py): over a limit it raises TemplateLimitExceeded."""
    with one_email():
        return _render_template(
            template=template,
            context=context,
            campaign=campaign,
            message_id=message_id,
            locale=locale,
        )


def _render_template(
    *, template: EmailTemplate, context: Context, campaign: str, message_id: int | None, locale: str
) -> RenderedEmail:
    compiled = compiled_emails()
    subject = _one_line(_run(template, "subject", context, locale, compiled=compiled))
    preheader = _one_line(_run(template, "preheader", context, locale, compiled=compiled))
    body_context = {**context, "subject": subject, "preheader": preheader}
    was = context["phrases"]["was"]

    def finish_slowly(mjml: str) -> Finished:
        return _finish(mjml, slug=template.slug, campaign=campaign, was=was, message_id=message_id)

    # Previews are rare: no need to learn their shapes.
    if message_id is None or not compiled:
        finished = finish_slowly(_run(template, "body", body_context, locale, compiled=compiled))
    else:
        proved = only_written_out(
            source=template_source(template=template, part="body", locale=locale),
            environment=_HTML_ENV,
        )
        finished = _finish_by_shape(
            body=lambda: _run(template, "body", body_context, locale, compiled=True),
            proved=proved,
            was=was,
            tracking=Tracking(
                message_id=message_id,
                campaign=campaign,
                content=template.slug,
                pixel_src=open_pixel_url(message_id),
            ),
            finish_slowly=finish_slowly,
            slug=template.slug,
        )
    return RenderedEmail(
        subject=subject,
        preheader=preheader,
        html=finished.html,
        text=finished.text,
        links=finished.links,
        html_quoted=finished.html_quoted,
        text_quoted=finished.text_quoted,
    )


def _finish(mjml: str, *, slug: str, campaign: str, was: str, message_id: int | None) -> Finished:
    """The HTML (UTM-tagged links, inlined CSS, and with `message_id` click-tracked
    links and an open pixel) and text parts of `mjml`, the slow way."""
    page = _mjml_to_html(mjml, slug=slug)
    page = tag_links(page, campaign=campaign, content=slug)
    # The text comes from the page before inlining: same content, far fewer bytes to parse.
    text = html_to_text(page, was=was)
    links: list[str] = []
    if message_id is not None:
        page, links = track_links(page, message_id=message_id)
        page = add_open_pixel(page, message_id=message_id)
    return Finished(html=_INLINER.inline(page), text=text, links=tuple(links))


def _finish_by_shape(
    *,
    body: Callable[[], str],
    proved: bool,
    was: str,
    tracking: Tracking,
    finish_slowly: Callable[[str], Finished],
    slug: str,
) -> Finished:
    """The `body` finished from the compiled form of its shape (see shapes.py): rendered
    once as a skeleton when the template is `proved` to give the real body back from it
    (outputflow.py), else rendered for real too and compared; the slow way when the
    skeleton render fails."""
    mjml = None if proved else body()
    try:
        skeleton, values = render_skeleton(body)
    except TemplateLimitExceeded:  # the real render would only take as long again
        raise
    except Exception:  # a template that fails only on sentinels: the real render decides
        return finish_slowly(body() if mjml is None else mjml)
    if mjml is None and len(skeleton) + sum(map(len, values)) > MAX_OUTPUT_CHARS:
        raise TemplateLimitExceeded(slug=slug, limit=_OUTPUT_TOO_BIG)
    return finish_by_shape(
        skeleton=skeleton,
        values=values,
        mjml=mjml,
        was=was,
        tracking=tracking,
        inline=_INLINER.inline,
        finish_slowly=lambda: finish_slowly(body() if mjml is None else mjml),
    )


def render_message(
    *, message: Message, now: dt.datetime, track: bool = True, facts: EmailFacts | None = None
) -> RenderedEmail:
    """Render `message` for its recipient with the context built from `facts` (read from
    the database when not given; see context.facts_for_messages for a batch), in the
    template's variant for the recipient's locale (see `choose_variant`) with amounts
    and dates in that locale's formats, with click tracking and an open pixel unless
    `track` is False (a preview must not count as an open); raises TemplateError when its
    template cannot be rendered."""
    campaign = message.campaign or "transactional"
    wanted = recipient_locale(
        customer_locale=message.customer.locale, store_locale=message.store.locale
    )
    variant, written_in = localize(template=message.template, wanted=wanted)
    facts = facts or message_facts(message)
    if not track:  # an untracked render is a look at the email: no feedback to collect
        facts = dataclasses.replace(facts, in_flow=False)
    context = context_for(facts=facts, now=now, locale=written_in)
    return render_template(
        template=message.template,
        context=context,
        campaign=campaign,
        message_id=message.pk if track else None,
        locale=variant,
    )


def render_line(*, template: EmailTemplate, part: str, context: Context, locale: str = "") -> str:
    """Only the subject or the preheader (`part`) of `template`'s variant `locale` for
    `context`, as `render_template` writes it (one line), the plain way, under the limits
    of one email: for a list that shows many templates' subjects. Raises TemplateError."""
    if part not in ("subject", "preheader"):
        raise ValueError(f"render_line renders a subject or a preheader, not {part!r}")
    with one_email():
        return _one_line(_run(template, part, context, locale, compiled=False))


def _one_line(text: str) -> str:
    # Headers must not contain line breaks, and a template's indentation is noise.
    return " ".join(text.split())


def _run(
    template: EmailTemplate, part: str, context: Context, locale: str, *, compiled: bool
) -> str:
    try:
        made = compile_template(template=template, part=part, locale=locale, compiled=compiled)
    except TemplateError as exc:
        exc.part = exc.part or part
        raise
    try:
        return _generate_capped(made, context)
    except LimitExceeded as exc:
        line = _template_line(exc)
        raise TemplateLimitExceeded(
            slug=template.slug, limit=str(exc), line=line, part=part
        ) from exc
    except Exception as exc:  # merchant code can raise anything; report it, don't crash
        error = _explain(exc, slug=template.slug)
        error.part = part
        raise error from exc


_OUTPUT_TOO_BIG = f"output over {MAX_OUTPUT_CHARS:,} characters"


def _generate_capped(compiled: jinja2.Template, context: Context) -> str:
    chunks, size = [], 0
    with one_render():
        for chunk in compiled.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise LimitExceeded(_OUTPUT_TOO_BIG)
            chunks.append(chunk)
    return "".join(chunks)


_PROBLEMS: list[tuple[type[BaseException], Callable[[BaseException], str]]] = [
    (SecurityError, lambda exc: f"refused by the sandbox: {exc}"),
    (jinja2.UndefinedError, lambda exc: f"undefined value: {exc}"),
    (jinja2.TemplateNotFound, lambda exc: f"no such template to include: {exc}"),
    (jinja2.TemplateSyntaxError, lambda exc: f"syntax error: {exc}"),
]


def _explain(exc: BaseException, *, slug: str) -> TemplateError:
    problem = next(
        (describe(exc) for kind, describe in _PROBLEMS if isinstance(exc, kind)),
        f"{type(exc).__name__}: {exc}",
    )
    return TemplateError(slug=slug, problem=problem, line=_template_line(exc))


def _template_line(exc: BaseException) -> int | None:
    """The line of the merchant's template where `exc` happened: Jinja rewrites the
    traceback so template frames carry template line numbers."""
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


def _mjml_to_html(mjml: str, *, slug: str) -> str:
    try:
        return mjml_to_html(mjml)
    except Exception as exc:  # mrml reports bad MJML as OSError/ValueError with a message
        raise TemplateError(slug=slug, problem=f"invalid MJML: {exc}", part="body") from exc

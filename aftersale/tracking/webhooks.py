"""The ESP webhook endpoints Aftersale mounts: django-anymail's tracking and inbound
views of the configured email service only (none with the SMTP transport), each guarded
so that a payload it cannot parse is a 400 in JSON rather than a server error, and the
system check that refuses to start without the secrets those endpoints need.

anymail's URL table is imported only when an ESP is configured: it loads every ESP's
webhook code (boto3 for Amazon SES alone takes ~0.2 s)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailInsecureWebhookWarning,
)
from anymail.webhooks.base import AnymailBasicAuthMixin, AnymailCoreWebhookView
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path

logger = logging.getLogger(__name__)

_ANYMAIL_PREFIX = "anymail:"
SECRET_VARIABLE = "AFTERSALE_WEBHOOK_SECRET"
# What an ESP's parser raises on a payload of the wrong shape (bad JSON, bad encoding, a
# list where an object belongs, a null where a string does, a timestamp out of range)...
_PAYLOAD_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    AnymailAPIError,  # "Malformed SNS message body", "Unknown SNS message type"
    AnymailConfigurationError,  # an inbound payload posted to the tracking URL or back
)


def _is_malformed(error: Exception) -> bool:
    """Whether `error`, raised while a webhook request was checked or parsed, means the
    payload is bad. Amazon's own errors (an S3 download or an SNS confirmation that
    failed) are not: they stay server errors, so that SNS delivers again later."""
    return isinstance(error, _PAYLOAD_ERRORS) and not type(error).__name__.startswith("AnymailBoto")


class MalformedPayload(Exception):
    """A webhook request whose payload the ESP's parser could not read."""


class GuardedWebhookView(AnymailCoreWebhookView):
    """Mixed in before one of anymail's webhook views: the basic-auth secret is checked
    before anything reads the body (Amazon SES's view parses the body first), and a
    payload that cannot be checked or parsed is answered 400 with a JSON error naming
    the ESP, never a 500. What the receivers of anymail's signals raise is left alone:
    a failure of ours is a 500, so that the ESP tries again."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """anymail's handling of the webhook POST, a malformed payload answered 400."""
        try:
            response: HttpResponse = super().post(request, *args, **kwargs)
        except MalformedPayload as error:
            logger.warning("%s webhook %s: %s", self.esp_name, request.path, error)
            return JsonResponse({"detail": str(error)}, status=400)
        return response

    def run_validators(self, request: HttpRequest) -> None:
        """The secret first, then every check of anymail's view."""
        if isinstance(self, AnymailBasicAuthMixin):
            AnymailBasicAuthMixin.validate_request(self, request)
        with _malformed_payload(self.esp_name, "could not be checked"):
            super().run_validators(request)

    def parse_events(self, request: HttpRequest) -> list[Any]:
        """anymail's events for the request, all parsed before any is sent on."""
        with _malformed_payload(self.esp_name, "could not be read"):
            return list(super().parse_events(request))


@contextmanager
def _malformed_payload(esp_name: str, what: str) -> Iterator[None]:
    """Turns a payload error raised inside it into MalformedPayload."""
    try:
        yield
    except Exception as error:
        if not _is_malformed(error):
            raise
        detail = f"{type(error).__name__}: {str(error)[:200]}"
        raise MalformedPayload(f"the {esp_name} webhook payload {what} ({detail})") from error


def configured_esp(transport: str) -> str:
    """The ESP of an "anymail:<esp>" transport; "" for smtp."""
    return transport.removeprefix(_ANYMAIL_PREFIX) if transport.startswith(_ANYMAIL_PREFIX) else ""


def esp_webhook_urls(transport: str) -> list[URLPattern | URLResolver]:
    """The URL patterns of `transport`'s webhooks under esp/, at the paths anymail
    documents (esp/<esp>/tracking/, esp/<esp>/inbound/, esp/mandrill/) and by anymail's
    URL names; none for smtp or an ESP without webhooks, so every other /esp/ URL is a
    404."""
    patterns = _guarded_patterns(configured_esp(transport))
    return [path("esp/", include((list(patterns), "anymail")))] if patterns else []


@cache
def _guarded_patterns(esp: str) -> tuple[URLPattern, ...]:
    if not esp:
        return ()
    from anymail import urls as anymail_urls  # see the module's docstring

    guarded: dict[object, type[AnymailCoreWebhookView]] = {}  # Mandrill's view has 2 paths
    patterns = []
    for p in anymail_urls.urlpatterns:
        if isinstance(p, URLPattern) and str(p.pattern).lstrip("^").startswith(f"{esp}/"):
            view_class = _view_class(p)
            view = guarded.setdefault(view_class, _guarded(view_class))
            patterns.append(URLPattern(p.pattern, view.as_view(), p.default_args, p.name))
    return tuple(patterns)


def _view_class(pattern: URLPattern) -> type[AnymailCoreWebhookView]:
    view_class: type[AnymailCoreWebhookView] = pattern.callback.view_class  # type: ignore[attr-defined]
    return view_class


def _guarded(view_class: type[AnymailCoreWebhookView]) -> type[AnymailCoreWebhookView]:
    return type(f"Guarded{view_class.__name__}", (GuardedWebhookView, view_class), {})


@register(Tags.security)
def check_esp_webhooks(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    """With an ESP transport whose webhooks are mounted: an Error unless
    AFTERSALE_WEBHOOK_SECRET is set (aftersale.E020), and one for every setting the
    ESP's webhook views cannot start without (aftersale.E021), such as Mailgun's signing
    key, MailerSend's signing secret, Postal's or Mandrill's webhook key, Brevo's,
    Resend's inbound or Unisender Go's API key. Commands that start services run it."""
    esp = configured_esp(settings.EMAIL_TRANSPORT)
    patterns = _guarded_patterns(esp)
    if not patterns:
        return []
    errors: list[CheckMessage] = []
    if not getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        errors.append(
            Error(
                f"{SECRET_VARIABLE} is not set, so the {esp} webhooks under /esp/{esp}/ "
                "would accept anyone's reports and change messages and suppressions.",
                hint=f"Set {SECRET_VARIABLE}=user:password and put it in the webhook URLs "
                "you give the ESP (docs/webhooks.md).",
                id="aftersale.E020",
            )
        )
    # Mandrill's one view has two paths: each view is made once.
    by_view = {_view_class(p): p for p in patterns}
    for pattern in by_view.values():
        problem = _startup_problem(pattern)
        if problem:
            errors.append(
                Error(
                    f"the {esp} webhook /esp/{str(pattern.pattern).strip('^$')} cannot "
                    f"start: {problem}",
                    hint="Set the ESP's setting with AFTERSALE_ESP_<NAME> (for the "
                    "setting <ESP>_<NAME>), see docs/webhooks.md.",
                    id="aftersale.E021",
                )
            )
    return errors


def _startup_problem(pattern: URLPattern) -> str:
    """What stops the view of `pattern` from working (anymail builds one per request,
    reading its settings), or "" when nothing does."""
    view_class = _view_class(pattern)
    try:
        with warnings.catch_warnings():
            # The missing secret is an Error of its own (aftersale.E020).
            warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
            view = view_class(**pattern.callback.view_initkwargs)  # type: ignore[attr-defined]
    except (AnymailConfigurationError, ImportError) as error:
        return " ".join(str(error).split())
    # Mandrill's view starts without its key and fails every POST instead.
    if hasattr(view, "webhook_key") and view.webhook_key is None:
        name = view.esp_name.upper().replace(" ", "_")
        return f"the setting {name}_WEBHOOK_KEY is missing: every webhook POST would fail"
    return ""

"""Log lines an operator can search: one JSON object a line, with the store, flow,
journey and message a line is about and the request a server error happened in, and
without personal data or secrets: log calls name customers' things by their ids only, and
the signed tokens that links in emails carry are redacted."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

# The public paths whose last part is a signed token (unsubscribe, click, open, feedback,
# countdown image): whoever reads the log must not be able to use them.
_TOKEN_PATH = re.compile(r"^(/(?:u|c|o|f|i/countdown)/)[^/]+")


# Django's loggers of requests it refused for security (SuspiciousOperation).
_REFUSALS = "django.security"
# The ids a log call may pass as `extra` (logging.LogRecord already has a "message"):
# each becomes a key of its JSON line. Ids and slugs only, never an address or a name.
CONTEXT = ("store", "flow_id", "enrollment_id", "message_id", "worker", "run_id")
FORMATS = ("text", "json")


def ids(**context: object) -> dict[str, object]:
    """`extra` for a log call: the CONTEXT ids given, for a JSON line's keys (None left
    out), e.g. `logger.info("sent", extra=ids(store=store.slug, message_id=m.pk))`."""
    unknown = set(context) - set(CONTEXT)
    if unknown:
        raise ValueError(f"not a log context id: {', '.join(sorted(unknown))}")
    return {key: value for key, value in context.items() if value is not None}


def logging_config(*, level: str, log_format: str) -> dict[str, Any]:
    """Django's LOGGING: Aftersale's own lines at `level`, as text or (`log_format`
    "json") JsonLines; server errors and security refusals always as JsonLines."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(FORMATS)}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "aftersale.lib.logs.JsonLines"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler"},
            "json": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "loggers": {
            "aftersale": {
                "handlers": ["json" if log_format == "json" else "console"],
                "level": level,
            },
            "django.request": {"handlers": ["json"], "level": "ERROR", "propagate": False},
            "django.security": {"handlers": ["json"], "level": "WARNING", "propagate": False},
            "mail.log": {"level": "ERROR"},
        },
    }


def redacted_path(path: str) -> str:
    """`path` with the signed token of an email link replaced by "…"."""
    return _TOKEN_PATH.sub(r"\1…", path)


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object: time (UTC), level, logger, message, the
    CONTEXT ids the log call passed (see `ids`), and for a request's record its method,
    path (tokens redacted) and status; the exception, if
    any, as its traceback text (for a request refused for security, only the refusal's
    name). Request bodies, headers and query strings are never
    written: they hold customers' data and keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": _redacted_message(record),
        }
        for key in CONTEXT:
            if hasattr(record, key):
                line[key] = getattr(record, key)
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            line["method"] = request.method
            line["path"] = redacted_path(request.path)
        if hasattr(record, "status_code"):
            line["status"] = record.status_code
        if record.exc_info and record.name.startswith(_REFUSALS):
            # A refused request (a bad webhook signature, a disallowed host) is the
            # caller's fault, not ours: what was refused, without a traceback per attempt.
            line["refused"] = record.exc_info[0].__name__ if record.exc_info[0] else ""
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def _redacted_message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    request = getattr(record, "request", None)
    path = getattr(request, "path", None)
    if isinstance(path, str) and path:  # Django's "Internal Server Error: <path>"
        message = message.replace(path, redacted_path(path))
    return message

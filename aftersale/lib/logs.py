"""Log lines an operator can search: one JSON object a line, with the request a server
error happened in, and without the signed tokens that links in emails carry."""

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


def redacted_path(path: str) -> str:
    """`path` with the signed token of an email link replaced by "…"."""
    return _TOKEN_PATH.sub(r"\1…", path)


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object: time (UTC), level, logger, message, and for
    a request's record its method, path (tokens redacted) and status; the exception, if
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

"""A server error leaves one searchable line with its traceback, and no token."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client

from aftersale.lib.logs import JsonLines, ids, logging_config, redacted_path
from aftersale.messaging.rendering.links import unsubscribe_token
from aftersale.messaging.tests.factories import make_scenario
from aftersale.tracking import selectors


def test_the_token_of_an_email_link_is_redacted_and_other_paths_kept():
    assert redacted_path("/u/123:abcDEF/") == "/u/…/"
    assert redacted_path("/i/countdown/xyz.png") == "/i/countdown/…"
    assert redacted_path("/api/v1/orders") == "/api/v1/orders"


@pytest.fixture
def broken_lookup(monkeypatch):
    """A bug in the code behind the unsubscribe page."""

    def fail(**_: object) -> None:
        raise RuntimeError("the lookup broke")

    monkeypatch.setattr(selectors, "tracked_message", fail)


def test_a_server_error_is_logged_with_its_request_and_traceback_as_one_json_line(
    store, clock, caplog, broken_lookup
):
    message = make_scenario(store, now=clock.now()).message("thank-you", now=clock.now())
    token = unsubscribe_token(message.pk)
    client = Client(raise_request_exception=False)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get(f"/u/{token}/")

    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    line = JsonLines().format(record)
    assert "\n" not in line and token not in line
    logged = json.loads(line)
    assert (logged["level"], logged["status"], logged["method"], logged["path"]) == (
        "ERROR",
        500,
        "GET",
        "/u/…/",
    )
    assert logged["message"] == "Internal Server Error: /u/…/"
    assert "RuntimeError: the lookup broke" in logged["exception"]


def test_the_configured_log_writes_the_error_line(store, clock, broken_lookup):
    message = make_scenario(store, now=clock.now()).message("thank-you", now=clock.now())
    handlers = logging.getLogger("django.request").handlers
    (handler,) = [h for h in handlers if isinstance(h.formatter, JsonLines)]  # the settings'
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    stderr = handler.setStream(written)
    try:
        Client(raise_request_exception=False).get(f"/u/{unsubscribe_token(message.pk)}/")
    finally:
        handler.setStream(stderr)

    (error,) = [json.loads(line) for line in written.getvalue().splitlines()]
    assert (error["logger"], error["status"], error["path"]) == ("django.request", 500, "/u/…/")


def test_a_request_refused_for_security_is_logged_by_its_refusal_without_a_traceback(caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.security"):
        answer = client.get("/dashboard/login/", HTTP_HOST="attacker.example.net")

    assert answer.status_code == 400
    (record,) = [r for r in caplog.records if r.name.startswith("django.security")]
    line = json.loads(JsonLines().format(record))
    assert line["refused"] == "DisallowedHost"
    assert "exception" not in line and "Traceback" not in json.dumps(line)


def _line(**context: object) -> dict[str, object]:
    record = logging.LogRecord("aftersale.x", logging.INFO, __file__, 1, "sent %s", (7,), None)
    record.__dict__.update(ids(**context))
    return dict(json.loads(JsonLines().format(record)))


def test_a_json_line_carries_the_ids_its_log_call_passed():
    line = _line(store="gift-shop", flow_id=3, message_id=7, worker="w1")
    assert line["message"] == "sent 7"
    assert {k: line[k] for k in ("store", "flow_id", "message_id", "worker")} == {
        "store": "gift-shop",
        "flow_id": 3,
        "message_id": 7,
        "worker": "w1",
    }
    assert "enrollment_id" not in _line(enrollment_id=None)


def test_a_log_call_may_pass_only_the_known_ids():
    with pytest.raises(ValueError, match="email"):
        ids(email="ada@example.com")


def test_the_log_format_is_text_or_json_and_json_formats_aftersales_own_lines():
    json_config = logging_config(level="INFO", log_format="json")
    assert json_config["loggers"]["aftersale"]["handlers"] == ["json"]
    assert logging_config(level="INFO", log_format="text")["loggers"]["aftersale"]["handlers"] == [
        "console"
    ]
    with pytest.raises(ValueError, match="xml"):
        logging_config(level="INFO", log_format="xml")

"""Which ESP webhooks are mounted, the check that refuses to start without their
secrets, and webhook requests that cannot be parsed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import Tags, run_checks
from django.test import Client, override_settings
from pytest_django.fixtures import Settings

from aftersale.tracking.tests.helpers import with_esp

SECRET = "aftersale:webhook-test-secret"
ENDPOINTS = ["/esp/postmark/tracking/", "/esp/postmark/inbound/", "/esp/mailgun/tracking/"]


@pytest.mark.parametrize("url", [*ENDPOINTS, "/esp/mandrill/", "/esp/amazon_ses/inbound/"])
def test_with_the_smtp_transport_no_esp_webhook_exists(url: str, settings: Settings) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    assert settings.EMAIL_TRANSPORT == "smtp"

    response = Client().post(url, b"{}", content_type="application/json")

    assert response.status_code == 404


def test_only_the_configured_esps_webhooks_are_mounted(settings: Settings) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    client = Client()

    with with_esp("postmark"):
        assert client.post("/esp/postmark/tracking/", b"{}", "application/json").status_code < 404
        assert client.post("/esp/mailgun/tracking/", b"{}", "application/json").status_code == 404
        assert client.post("/esp/mandrill/", b"{}", "application/json").status_code == 404


def webhook_errors() -> list[str]:
    """The messages of aftersale's webhook check errors."""
    found = run_checks(tags=[Tags.security])
    return [f"{m.id}: {m.msg}" for m in found if str(m.id).startswith("aftersale.E02")]


@override_settings(EMAIL_TRANSPORT="anymail:postmark", ANYMAIL={})
def test_an_esp_transport_without_the_webhook_secret_fails_the_check() -> None:
    (error,) = webhook_errors()

    assert error.startswith("aftersale.E020: AFTERSALE_WEBHOOK_SECRET is not set")


@pytest.mark.parametrize(
    ("esp", "setting"),
    [
        ("mailgun", "MAILGUN_WEBHOOK_SIGNING_KEY"),
        ("mailersend", "MAILERSEND_SIGNING_SECRET"),
        ("mandrill", "MANDRILL_WEBHOOK_KEY"),
        ("postal", "POSTAL_WEBHOOK_KEY"),
        ("unisender_go", "UNISENDER_GO_API_KEY"),
    ],
)
def test_esp_webhooks_without_the_esps_own_key_fail_the_check(esp: str, setting: str) -> None:
    with override_settings(EMAIL_TRANSPORT=f"anymail:{esp}", ANYMAIL={"WEBHOOK_SECRET": SECRET}):
        errors = webhook_errors()

    assert errors and all(e.startswith("aftersale.E021") for e in errors)
    assert any(setting in e for e in errors), errors


@pytest.mark.parametrize("transport", ["smtp", "anymail:postmark", "anymail:scaleway"])
def test_the_check_passes_with_the_secret_or_without_webhooks(transport: str) -> None:
    with override_settings(EMAIL_TRANSPORT=transport, ANYMAIL={"WEBHOOK_SECRET": SECRET}):
        assert webhook_errors() == []
    with override_settings(EMAIL_TRANSPORT="anymail:scaleway", ANYMAIL={}):
        assert webhook_errors() == []  # an ESP without webhooks needs no secret


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker", "--once"]])
def test_serve_and_worker_refuse_to_start_without_the_webhook_secret(
    command: list[str], tmp_path: Path
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AFTERSALE_", "DJANGO_SETTINGS"))
    }
    env.update(
        AFTERSALE_HOME=str(tmp_path),
        AFTERSALE_EMAIL_TRANSPORT="anymail:postmark",
        AFTERSALE_ESP_API_KEY="postmark-server-token",
    )
    script = "from aftersale.cli import main; main()"

    done = subprocess.run(
        [sys.executable, "-c", script, *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert "aftersale.E020" in done.stderr and "AFTERSALE_WEBHOOK_SECRET" in done.stderr
    assert "serving on" not in done.stdout

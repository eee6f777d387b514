"""Signing in to the dashboard and the admin is throttled (django-axes), every page says
it may not be framed and runs only this server's scripts and styles, and production
settings pass `check --deploy` without a warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client
from django.urls import reverse

from aftersale.dashboard.tests.conftest import PASSWORD

ATTACKER = "203.0.113.9"
# README, "Running in production": the settings `check --deploy` must find no fault with.
PRODUCTION = {
    "AFTERSALE_SECRET_KEY": secrets.token_urlsafe(50),
    "AFTERSALE_PUBLIC_URL": "https://shop.example.com",
    "AFTERSALE_ALLOWED_HOSTS": "shop.example.com",
    "AFTERSALE_SSL_REDIRECT": "true",
    "AFTERSALE_HSTS_SECONDS": "31536000",
    "AFTERSALE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "AFTERSALE_HSTS_PRELOAD": "true",
}


def _sign_in(
    client: Client, password: str, *, page: str = "dashboard:login", address: str = ATTACKER
):
    return client.post(
        reverse(page),
        {"username": "merchant", "password": password},
        REMOTE_ADDR=address,
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_thirty_wrong_passwords_lock_the_username_out_from_that_address_until_the_cool_off(
    client: Client, merchant: User
) -> None:
    statuses = [_sign_in(client, f"guess-{n}").status_code for n in range(30)]

    limit = settings.AXES_FAILURE_LIMIT
    assert statuses == [200] * (limit - 1) + [429] * (30 - limit + 1)
    refused = _sign_in(client, PASSWORD)
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert not _signed_in(client)
    # The pair username + address is locked, not the username everywhere.
    elsewhere = Client()
    assert _sign_in(elsewhere, PASSWORD, address="198.51.100.7").status_code == 302
    assert _signed_in(elsewhere)

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME)
    assert _sign_in(client, PASSWORD).status_code == 302
    assert _signed_in(client)


def test_the_admin_sign_in_is_throttled_the_same_way(
    client: Client, django_user_model: type[User]
) -> None:
    django_user_model.objects.create_superuser(username="merchant", password=PASSWORD)
    for n in range(settings.AXES_FAILURE_LIMIT):
        response = _sign_in(client, f"guess-{n}", page="admin:login")
    assert response.status_code == 429
    assert _sign_in(client, PASSWORD, page="admin:login").status_code == 429
    assert not _signed_in(client)


def test_pages_may_not_be_framed_and_run_only_this_servers_scripts_and_styles(
    client: Client,
    merchant: User,  # a login exists: the login page is shown, not the first run
) -> None:
    response = client.get(reverse("dashboard:login"))

    assert response["X-Frame-Options"] == "DENY"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "<style" not in response.content.decode()


def _check_deploy(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALE_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-m", "aftersale.cli", "check", "--deploy"],
        env={**inherited, "AFTERSALE_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_check_deploy_finds_nothing_to_warn_about_in_the_production_settings(
    tmp_path: Path,
) -> None:
    done = _check_deploy(tmp_path, PRODUCTION)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in done.stderr and "?:" not in done.stderr, done.stderr


def test_check_deploy_names_what_the_development_defaults_leave_open(tmp_path: Path) -> None:
    done = _check_deploy(tmp_path, {})
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in done.stderr

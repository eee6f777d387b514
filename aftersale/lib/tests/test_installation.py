"""AFTERSALE_HOME and the secret key: generated once per home on the embedded default,
required with a database server, nothing created by importing the settings. Each case
is a fresh process, as a real start is."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from aftersale.lib.installation import SECRET_KEY_FILENAME

_PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"
_START_THEN_PRINT_KEY = (
    f"from aftersale.lib import installation; installation.prepare(); {_PRINT_KEY}"
)


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python with the settings module and no configured key."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALE_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**inherited, "DJANGO_SETTINGS_MODULE": "aftersale.settings", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _started_key(home: Path) -> str:
    done = _python(_START_THEN_PRINT_KEY, AFTERSALE_HOME=str(home))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_settings_creates_no_folder_or_file(tmp_path: Path) -> None:
    home = tmp_path / "not-yet"
    done = _python(
        "import django; django.setup(); from django.conf import settings; settings.DATABASES",
        AFTERSALE_HOME=str(home),
    )
    assert done.returncode == 0, done.stderr
    assert not home.exists()


def test_the_first_start_generates_a_key_of_its_own_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    first, second = _started_key(tmp_path / "one"), _started_key(tmp_path / "two")
    assert len(first) >= 50 and first != second
    key_file = tmp_path / "one" / SECRET_KEY_FILENAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first
    assert not [p.name for p in (tmp_path / "one").iterdir() if p.name != SECRET_KEY_FILENAME]


def test_the_generated_key_survives_a_restart(tmp_path: Path) -> None:
    assert _started_key(tmp_path) == _started_key(tmp_path)
    # Read by the settings alone too, as every later import of them does.
    done = _python(_PRINT_KEY, AFTERSALE_HOME=str(tmp_path))
    assert done.stdout.strip() == (tmp_path / SECRET_KEY_FILENAME).read_text().strip()


def test_a_configured_key_wins_and_nothing_is_generated(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k" * 30 + "from-a-secret-file-0123456789\n")
    done = _python(
        _START_THEN_PRINT_KEY, AFTERSALE_HOME=str(tmp_path), AFTERSALE_SECRET_KEY_FILE=str(key_file)
    )
    assert done.stdout.strip() == key_file.read_text().strip(), done.stderr
    assert not (tmp_path / SECRET_KEY_FILENAME).exists()


def test_a_database_server_without_a_key_stops_the_start_naming_the_variables(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aftersale.cli", "check"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AFTERSALE_")},
            "AFTERSALE_HOME": str(tmp_path / "home"),
            "AFTERSALE_DATABASE_URL": "postgresql://aftersale@127.0.0.1:1/aftersale",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert "AFTERSALE_SECRET_KEY (or AFTERSALE_SECRET_KEY_FILE" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "home").exists()

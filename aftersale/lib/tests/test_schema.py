"""A first command on a new installation: the embedded SQLite database is migrated on the
way, a PostgreSQL database gets the command to run. Real `aftersale` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from aftersale.worker.tests.crash_scenario import fresh_postgres_database

ORDERS = (
    "order_id,customer_id,email,first_name,placed_at,product_id,quantity,unit_price\n"
    "1001,c1,ada@example.com,Ada,2024-03-01T10:00:00,p1,2,9.99\n"
)


def _aftersale(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`aftersale ARGS` with AFTERSALE_HOME at `home` and no database or key configured
    (the embedded default) unless `env` gives them."""
    unset = ("AFTERSALE_DATABASE_URL", "AFTERSALE_SECRET_KEY")
    base = {name: value for name, value in os.environ.items() if name not in unset}
    return subprocess.run(
        [sys.executable, "-m", "aftersale.cli", *args],
        env={**base, "AFTERSALE_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_on_a_new_home_migrates_the_database_in_one_line_and_says_how_to_make_a_store(
    tmp_path: Path,
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS, encoding="utf-8")
    home = tmp_path / "home"

    first = _aftersale(home, "import", "orders", str(orders))

    assert "Traceback" not in first.stderr
    migrated = [line for line in first.stderr.splitlines() if "migrations" in line]
    assert len(migrated) == 1 and "applied" in migrated[0]
    assert "no store yet: create one with `aftersale stores create NAME`" in first.stderr
    assert first.returncode == 1

    created = _aftersale(home, "stores", "create", "Little Gift Shop")
    imported = _aftersale(home, "import", "orders", str(orders))

    assert created.returncode == 0 and "migrations" not in created.stderr
    assert imported.returncode == 0, imported.stderr
    assert "1 imported" in imported.stdout


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the PostgreSQL suite's server makes the new database",
)
def test_a_command_on_a_new_postgresql_database_says_to_run_migrate(tmp_path: Path) -> None:
    with fresh_postgres_database(settings.DATABASES["default"]) as url:
        answer = _aftersale(
            tmp_path, "stores", "list", AFTERSALE_DATABASE_URL=url, AFTERSALE_SECRET_KEY="k"
        )

    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr
    assert "run `aftersale migrate` first" in answer.stderr

"""AFTERSALE_BROKER_URL switches to production mode, only with PostgreSQL and Redis; the
test clock a test moves in other processes by writing a file."""

import datetime as dt
import os
from pathlib import Path

import pytest

from aftersale.lib.clock import OffsetFileClock
from aftersale.lib.env import ConfigurationError
from aftersale.lib.installation import broker_url

POSTGRES = "postgresql://aftersale@db.internal:5432/aftersale"


def test_no_broker_is_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSALE_BROKER_URL", raising=False)
    assert broker_url("sqlite:////var/aftersale.sqlite3") == ""


def test_a_redis_broker_with_postgresql_is_production_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERSALE_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert broker_url(POSTGRES) == "redis://127.0.0.1:6379/0"


def test_the_broker_url_may_come_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "broker").write_text("redis://:s3cret@cache:6379/1\n")
    monkeypatch.delenv("AFTERSALE_BROKER_URL", raising=False)
    monkeypatch.setenv("AFTERSALE_BROKER_URL_FILE", str(tmp_path / "broker"))
    assert broker_url(POSTGRES) == "redis://:s3cret@cache:6379/1"


def test_a_broker_with_sqlite_is_refused_saying_production_needs_postgresql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERSALE_BROKER_URL", "redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigurationError, match="needs PostgreSQL"):
        broker_url("sqlite:////var/aftersale.sqlite3")


def test_a_broker_that_is_not_redis_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALE_BROKER_URL", "amqp://guest@rabbit//")
    with pytest.raises(ConfigurationError, match="must be a Redis URL"):
        broker_url(POSTGRES)


def test_the_file_clock_moves_when_a_larger_offset_is_written(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    clock = OffsetFileClock(path)
    start = clock.now()
    assert abs(start - dt.datetime.now(tz=dt.UTC)) < dt.timedelta(seconds=5)  # no file: 0
    path.write_text(str(3 * 86400))
    assert clock.now() - start >= dt.timedelta(days=3)
    path.write_text("60")  # smaller: ignored, time never runs backwards
    os.utime(path, ns=(1, 1))
    assert clock.now() - start >= dt.timedelta(days=3)

"""A real Redis for production mode's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """An empty Redis database: AFTERSALE_TEST_REDIS_URL's, else a redis-server started
    here with scripts/redis; skipped, saying so, when there is neither."""
    url = os.environ.get("AFTERSALE_TEST_REDIS_URL")
    directory = tmp_path / "redis"
    if not url:
        if shutil.which("redis-server") is None:
            pytest.skip("no Redis: set AFTERSALE_TEST_REDIS_URL or install redis-server")
        line = subprocess.run(
            [REPO / "scripts" / "redis", "start", directory],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        url = line.strip().split("=", 1)[1]
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        subprocess.run([REPO / "scripts" / "redis", "stop", directory], check=False)

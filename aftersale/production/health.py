"""Liveness and readiness, for a load balancer or an orchestrator (docs/deployment.md):
the web process is alive when it answers; ready when its database answers, has every
migration applied and, in production mode, the broker answers too."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from aftersale.lib.schema import unapplied_migrations

# A probe answers within a few seconds, even when the broker does not.
BROKER_TIMEOUT_SECONDS = 2.0


@dataclass
class Readiness:
    """Each check's answer ("ok", or what is wrong, never a secret) and the verdict."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(answer in ("ok", "not configured") for answer in self.checks.values())


def readiness() -> Readiness:
    """Check the database (a query), its migrations (none unapplied) and, when
    AFTERSALE_BROKER_URL is set, the Redis broker (a PING). Errors are named by their
    kind only: a probe's answer never carries a host, a user or a password."""
    result = Readiness()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        result.checks["database"] = "ok"
        pending = unapplied_migrations()
        result.checks["migrations"] = "ok" if not pending else f"{pending} unapplied"
    except DatabaseError as error:
        result.checks["database"] = f"unreachable ({type(error).__name__})"
        result.checks["migrations"] = "unknown"
    result.checks["broker"] = _broker()
    return result


def _broker() -> str:
    if not settings.BROKER_URL:
        return "not configured"
    client = redis.Redis.from_url(
        settings.BROKER_URL,
        socket_timeout=BROKER_TIMEOUT_SECONDS,
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError as error:
        return f"unreachable ({type(error).__name__})"
    finally:
        client.close()
    return "ok"

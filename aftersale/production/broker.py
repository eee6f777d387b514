"""Production mode's Redis transport: kombu's own, with one guard against a crash of
kombu 5.7 (the latest release; no release fixes it) when the broker goes away.

The crash, seen in CI while a test restarted Redis: a Celery worker that nobody killed
exited 1 with `AttributeError: 'NoneType' object has no attribute 'hostname'` in
`QoS.restore_unacked`. How it happens (aftersale/production/tests/test_broker.py makes
it happen on purpose): on a lost broker connection Celery's consumer calls
`Connection.collect()` and then `Connection.close()`. `collect()` closes the channels
(kombu swallows the connection errors of that close, so a channel whose close failed
part-way stays open) and then detaches the transport from the connection
(`transport.client = None`). When the channel had a BRPOP in flight and a fanout queue
to delete (the worker's state while it waits for its next task) both closes in
`collect()` fail before the channel's own close, and `close()` then closes it for real:
that close puts the channel's unacknowledged messages back in their queue
(`restore_unacked`), through a new connection pool built from the connection's host,
which is gone. The AttributeError is not a connection error, so nothing catches it.

kombu's tracker has the same AttributeError from a channel closed after its connection
went (celery/kombu#582, on a gossip restart) and restore_unacked failing at shutdown
(celery/kombu#970), but no fix for this path in any release.

The guard: a channel whose transport was detached restores nothing; its messages stay
in Redis's unacked set, from which kombu restores them once the visibility timeout has
passed (or they went with a Redis restart, which keeps nothing). Losing one is safe
here: every task is idempotent and claims its rows in PostgreSQL, and beat sends the
periodic ones again within a tick.

`install()` registers the transport under kombu's `redis` and `rediss` aliases, so a
broker URL is parsed and connected exactly as before (TLS defaults of rediss:// too).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    """kombu's Redis QoS that restores nothing through a detached transport."""

    def restore_unacked(self, client: Any = None) -> None:
        """Put the unacknowledged messages back in their queues, as kombu does; when the
        connection was already collected (the transport has no client), leave them in
        Redis's unacked set for the visibility-timeout restore and forget them here."""
        if client is None and self.channel.connection.client is None:
            logger.warning(
                "broker connection lost: %d unacknowledged task message(s) left for "
                "the broker's visibility-timeout restore",
                len(self._delivered),
            )
            self._delivered.clear()
            return
        super().restore_unacked(client)


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    """kombu's Redis channel with the guarded QoS."""

    QoS = QoS


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with the guarded channel."""

    Channel = Channel


TRANSPORT = f"{__name__}:Transport"


def install() -> None:
    """Make kombu resolve redis:// and rediss:// broker URLs to this transport."""
    TRANSPORT_ALIASES["redis"] = TRANSPORT
    TRANSPORT_ALIASES["rediss"] = TRANSPORT

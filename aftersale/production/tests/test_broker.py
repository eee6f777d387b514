"""The broker guard (aftersale/production/broker.py), on a real Redis: the state in which
kombu's Redis transport crashes a worker when the broker goes away, made on purpose, and
production mode's transport riding it out with the unacknowledged message kept in Redis
for the visibility-timeout restore.

The state is the one a Celery worker is in while it waits for its next task after a task
whose acknowledgement the outage cut off: a message delivered and not acknowledged, a
BRPOP in flight (the event loop waiting), a fanout queue bound (the worker's broadcast
queue). Then Redis stops and the worker does what Celery's consumer does on a lost
connection: `collect()`, then `close()`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from aftersale.production import broker as production_broker
from aftersale.production.tests.real_parts import RedisServer
from aftersale.worker.tests.crash_scenario import free_port

KOMBU_REDIS = "kombu.transport.redis:Transport"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own that keeps its data across a restart."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on the PATH (scripts/redis installs it)")
    server = RedisServer(port=free_port(), directory=tmp_path / "redis", keep=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _lose_the_broker_while_waiting(connection: Connection, server: RedisServer) -> None:
    """Deliver a task message without acknowledging it, start waiting for the next one,
    stop Redis and collect the connection as Celery's consumer does on a lost broker;
    Redis is back before the consumer closes the connection."""
    tasks = Queue("tasks")
    broadcast = Queue("broadcast", Exchange("broadcast", type="fanout"), auto_delete=True)
    with connection.Producer() as producer:
        producer.publish({"task": "tick"}, routing_key="tasks", declare=[tasks])
    received = []
    consumer = connection.Consumer(
        [tasks, broadcast], callbacks=[lambda body, message: received.append(message)]
    )
    consumer.qos(prefetch_count=1)
    consumer.consume()
    connection.drain_events(timeout=5)
    assert len(received) == 1  # delivered, not acknowledged
    channel: Any = connection.default_channel  # kombu.transport.redis.Channel
    channel._brpop_start()  # the event loop waits for the next task
    server.stop()
    connection.collect(socket_timeout=1)  # Celery's consumer.on_connection_error_after_connected
    server.start()


def test_kombus_own_redis_transport_crashes_closing_after_a_lost_broker(
    redis_server: RedisServer,
) -> None:
    # The bug the guard is for. Should a kombu release fix it, this test fails: drop the
    # guard (production/broker.py) and this test with it.
    connection = Connection(redis_server.url, transport=KOMBU_REDIS)
    _lose_the_broker_while_waiting(connection, redis_server)
    with pytest.raises(AttributeError, match="hostname"):
        connection.close()


def test_production_transport_closes_after_a_lost_broker_keeping_the_message_in_redis(
    redis_server: RedisServer,
) -> None:
    production_broker.install()
    connection = Connection(redis_server.url)
    assert isinstance(connection.transport, production_broker.Transport)
    _lose_the_broker_while_waiting(connection, redis_server)
    connection.close()  # no AttributeError

    # The message waits in Redis's unacked set; the visibility-timeout restore (here with
    # a timeout of 0: due at once) puts it back in its queue, and it is delivered again.
    again = Connection(redis_server.url, transport_options={"visibility_timeout": 0})
    try:
        channel = again.default_channel
        channel.qos.restore_visible(num=100)
        message = channel.basic_get("tasks", no_ack=True)
        assert message is not None
        assert message.decode() == {"task": "tick"}
    finally:
        again.close()


def test_production_transport_is_kombus_redis_transport_for_every_redis_url() -> None:
    production_broker.install()
    for url in ("redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6380/0"):
        transport = Connection(url).transport_cls
        assert transport in ("redis", "rediss")
        connection = Connection(url)
        assert type(connection.transport) is production_broker.Transport

"""/healthz says the process is alive; /readyz says whether it can work: its database
answers with every migration applied and, in production mode, its broker answers."""

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_healthz_answers_alive_without_signing_in(client: Client) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "alive"}
    assert "no-cache" in reply["Cache-Control"]


def test_readyz_is_ready_in_the_embedded_mode_with_the_database_migrated(client: Client) -> None:
    reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "not configured"},
    }


def test_readyz_is_not_ready_while_the_broker_does_not_answer(client: Client) -> None:
    with override_settings(BROKER_URL="redis://:hunter2@127.0.0.1:1/0"):
        reply = client.get("/readyz")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "not ready"
    assert body["checks"]["broker"] == "unreachable (ConnectionError)"
    assert "hunter2" not in reply.content.decode()


def test_readyz_is_ready_with_a_broker_that_answers(client: Client, redis_url: str) -> None:
    with override_settings(BROKER_URL=redis_url):
        reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json()["checks"]["broker"] == "ok"


def test_readyz_counts_unapplied_migrations(client: Client) -> None:
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app="stores").order_by("-id").first()
    assert latest is not None
    latest.delete()  # as if the newest stores migration had not run yet
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json()["checks"]["migrations"] == "1 unapplied"

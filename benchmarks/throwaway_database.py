"""A new database on a PostgreSQL server for one benchmark run, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def postgres_database(
    server_url: str, *, prefix: str = "aftersale_bench", template: str = ""
) -> Iterator[str]:
    """The URL of a new database on the server of `server_url`, empty or a copy of the
    database `template` (to which nobody may be connected); dropped after."""
    import psycopg

    base, _, _ = server_url.rpartition("/")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        copy = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django() -> None:
    """Start Django on the database AFTERSALE_DATABASE_URL names and migrate it. The
    database lives only as long as the run: a throwaway key signs its links."""
    import os
    import secrets

    os.environ["DJANGO_SETTINGS_MODULE"] = "aftersale.settings"
    os.environ.setdefault("AFTERSALE_SECRET_KEY", secrets.token_urlsafe(50))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@contextmanager
def fresh_database(server_url: str) -> Iterator[Path]:
    """Point Django at a new empty, migrated database (SQLite in a temporary
    AFTERSALE_HOME, or with `server_url` a new database on that PostgreSQL server) and
    drop it afterwards; yields the AFTERSALE_HOME."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="aftersale-bench-") as home:
        os.environ["AFTERSALE_HOME"] = home
        if not server_url:
            os.environ["AFTERSALE_DATABASE_URL"] = f"sqlite:///{home}/bench.sqlite3"
            setup_django()
            yield Path(home)
            return
        with postgres_database(server_url) as url:
            os.environ["AFTERSALE_DATABASE_URL"] = url
            setup_django()
            try:
                yield Path(home)
            finally:
                from django.db import connections

                connections.close_all()

"""A database brought to the schema of this code before a command runs: the embedded
default (SQLite) is migrated at once, a database server only named with what to run.

`aftersale` (cli.py) calls `ensure_migrated` after Django is set up and before the command:
so a first command on a new AFTERSALE_HOME works instead of failing on a missing table.
"""

import fcntl
import importlib.util
import pkgutil
import sys
from pathlib import Path
from typing import TextIO

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from aftersale.lib.env import ConfigurationError

# Commands that manage the migrations themselves, or need no database at all.
NO_DATABASE_COMMANDS = frozenset(
    {
        "migrate",
        "makemigrations",
        "showmigrations",
        "sqlmigrate",
        "squashmigrations",
        "optimizemigration",
        "check",
        "collectstatic",
        "dbshell",
        "diffsettings",
        "help",
        "version",
    }
)
# Beside the SQLite database: held while one process migrates it, so that commands
# started together on a new home migrate once.
LOCK_FILENAME = ".migrate.lock"


def ensure_migrated(argv: list[str], stderr: TextIO = sys.stderr) -> None:
    """Before `aftersale ARGV...`: apply the pending migrations of an SQLite database,
    telling `stderr` in one line; on a database server, a ConfigurationError saying to run
    `aftersale migrate`. Nothing for commands in NO_DATABASE_COMMANDS or asking for help."""
    command = argv[0] if argv and not argv[0].startswith("-") else "help"
    if command in NO_DATABASE_COMMANDS or {"-h", "--help"} & set(argv):
        return
    if not _unrecorded_migrations():
        return
    if connection.vendor != "sqlite":
        pending = len(_plan())
        if pending:
            raise ConfigurationError(
                f"the database {_describe_database()} lacks {pending} of Aftersale's "
                "migrations (a new database, or Aftersale was upgraded): run "
                "`aftersale migrate` first, once, then this command again"
            )
        return
    _migrate_sqlite(stderr)


def _migrate_sqlite(stderr: TextIO) -> None:
    database = Path(settings.DATABASES["default"]["NAME"])
    with open(database.parent / LOCK_FILENAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pending = len(_plan())  # again: another process may have migrated meanwhile
        if pending:
            call_command("migrate", verbosity=0, interactive=False)
            stderr.write(
                f"aftersale: applied {pending} migrations to the database {database} "
                "(as `aftersale migrate` does)\n"
            )


def _unrecorded_migrations() -> bool:
    """Whether a migration file of an installed app is not recorded as applied: read from
    the migration folders' file names, without importing them (most starts find none)."""
    applied = MigrationRecorder(connection).applied_migrations()
    for app_config in apps.get_app_configs():
        module_name, _ = MigrationLoader.migrations_module(app_config.label)
        spec = importlib.util.find_spec(module_name) if module_name else None
        if spec is None or not spec.submodule_search_locations:
            continue
        for module in pkgutil.iter_modules(spec.submodule_search_locations):
            if module.name[0] not in "_~" and (app_config.label, module.name) not in applied:
                return True
    return False


def _plan() -> list[object]:
    """The migrations `migrate` would apply (Django's own reckoning, squashes and all)."""
    executor = MigrationExecutor(connection)
    return list(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _describe_database() -> str:
    """Which database: name, host and port, never the password."""
    default = settings.DATABASES["default"]
    host = f"{default.get('HOST') or 'localhost'}:{default.get('PORT') or 'default port'}"
    return f"{default.get('NAME')!r} on {host}"


def unapplied_migrations() -> int:
    """How many migrations `migrate` would apply to the default database (0 at once when
    every migration file is recorded, the usual answer; a readiness probe asks it)."""
    return len(_plan()) if _unrecorded_migrations() else 0

"""The `aftersale` console script: Django's management commands, configured for Aftersale."""

import os
import sys

from aftersale.lib import installation
from aftersale.lib.env import ConfigurationError


def main() -> None:
    """Run `aftersale <command>`; with no command, list the commands. Prepares AFTERSALE_HOME
    and the generated key first (lib/installation.py); a setting Aftersale cannot use stops
    it with the message naming the variable, exit status 2. A database without the latest
    migrations is migrated first on SQLite; on a server the command stops, saying to run
    `aftersale migrate` (lib/schema.py)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
    try:
        installation.prepare()
        import django
        from django.core.management import execute_from_command_line

        from aftersale.lib.schema import ensure_migrated

        django.setup()
        ensure_migrated(sys.argv[1:])
        execute_from_command_line(["aftersale", *sys.argv[1:]])
    except ConfigurationError as exc:
        print(f"aftersale: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""The `aftersale` console script: Django's management commands, configured for Aftersale."""

import os
import sys


def main() -> None:
    """Run `aftersale <command>`; with no command, list the commands."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["aftersale", *sys.argv[1:]])


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from opsportal.audit.context import command_line_acting

    command_line_acting()  # what a command changes in users, groups or alert rules is on the record

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A configuration problem is the operator's to fix: say what, without a traceback.
        sys.exit(f"opsportal: {exc}")


if __name__ == "__main__":
    main()

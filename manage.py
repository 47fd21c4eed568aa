#!/usr/bin/env python
"""Django's command-line utility. DJANGO_ENV picks the settings module (dev, test, production)."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"revops.settings.{os.environ.get('DJANGO_ENV', 'dev')}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path


def _reexec_in_project_venv() -> None:
    """`python manage.py ...` with an interpreter that lacks the dependencies (say, the system
    Python after `make run` installed them into .venv): run again with the project's .venv."""
    venv = Path(__file__).resolve().parent / ".venv"
    venv_python = venv / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])  # noqa: S606


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError:
        _reexec_in_project_venv()
        raise
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

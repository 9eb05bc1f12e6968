from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from marketplace.common.registry import registry, render_markdown, undeclared_codes


class Command(BaseCommand):
    help = (
        "List every app's error codes and audit actions from the code registry; with "
        "--markdown, as docs/CODES.md (make docs writes it with --output docs/CODES.md)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--markdown", action="store_true", help="Markdown, as docs/CODES.md.")
        parser.add_argument("--output", type=Path, help="Write to this file instead of stdout.")

    def handle(self, *args: Any, markdown: bool, output: Path | None, **options: Any) -> None:
        reg = registry()
        if markdown:
            text = render_markdown(reg)
        else:
            rows = [
                f"{e.code:<32} {','.join(map(str, e.statuses)) or '-':<8} {e.app}"
                for e in reg.errors.values()
            ]
            rows += [f"{a.action:<32} {'audit':<8} {a.app}" for a in reg.actions.values()]
            text = "\n".join(rows) + "\n"
        if output is None:
            self.stdout.write(text, ending="")
        else:
            output.write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {output}")
        for code in undeclared_codes():
            print(f"warning: {code!r} is raised but declared in no app's codes.py", file=sys.stderr)

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from marketplace.audit.selectors import audit_verify


class Command(BaseCommand):
    help = "Verify every audit hash chain; exits 1 if any event was edited, deleted or reordered."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--stream", help="Only this stream.")

    def handle(self, *args: Any, stream: str | None = None, **options: Any) -> None:
        result = audit_verify(stream=stream)
        self.stdout.write(json.dumps(result.as_dict(), indent=2))
        if not result.valid:
            raise SystemExit(1)

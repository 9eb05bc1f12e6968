import datetime as dt
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from listings.tape_generator import write_tape


class Command(BaseCommand):
    help = "Write a synthetic consumer NPL loan tape (CSV) in the format of API.md."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--out", required=True)
        parser.add_argument("--errors", type=int, default=0, help="rows with one defect each")
        parser.add_argument("--currency", default="EUR")
        parser.add_argument("--cut-off", default="2026-09-30", help="YYYY-MM-DD")

    def handle(
        self,
        *args: Any,
        rows: int,
        seed: int,
        out: str,
        errors: int,
        currency: str,
        cut_off: str,
        **options: Any,
    ) -> None:
        if rows < 0 or errors < 0 or errors > rows:
            raise CommandError("--rows and --errors must be >= 0 and errors <= rows")
        try:
            cut = dt.date.fromisoformat(cut_off)
        except ValueError as exc:
            raise CommandError("--cut-off must be YYYY-MM-DD") from exc
        started = time.monotonic()
        write_tape(out, rows, seed=seed, currency=currency, cut_off=cut, errors=errors)
        self.stdout.write(
            f"wrote {rows} loans ({errors} invalid) to {out} in {time.monotonic() - started:.1f}s"
        )

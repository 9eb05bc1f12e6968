"""``manage.py outbox_relay [--once] [--interval S]``: publish unsent outbox messages.

Beat already runs the relay every second through the broker; this loop needs only the
database, so an operator can drain the outbox from any host (or run it as a service) without
waiting for beat and a worker to be back."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from marketplace.outbox import relay


class Command(BaseCommand):
    help = "Publish the outbox's unsent Celery messages (once, or in a loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between passes")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            try:
                sent = relay.relay()
            except DatabaseError as exc:  # the database is down: wait for it, do not die
                self.stderr.write(f"outbox relay: database unavailable ({exc})")
                close_old_connections()
                sent = 0
            if sent:
                self.stdout.write(f"outbox relay: published {sent}")
            if options["once"]:
                return
            time.sleep(options["interval"])

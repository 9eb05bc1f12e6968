"""What a running import tells the outside: rows processed (live) and its phases' timings."""

from __future__ import annotations

import logging
import time

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)

PROGRESS_EVERY_ROWS = 50_000


class Progress:
    """Writes rows_processed from a separate autocommit connection, so clients see it live."""

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.rows = 0
        self.reported = 0
        self.conn: psycopg.Connection | None = None

    def add(self, rows: int) -> None:
        self.rows += rows
        if self.rows - self.reported >= PROGRESS_EVERY_ROWS:
            self.flush()

    def flush(self) -> None:
        try:
            if self.conn is None:
                params = connection.get_connection_params()
                self.conn = psycopg.connect(**params, autocommit=True)
            self.conn.execute(
                "UPDATE listings_loantapeimport SET rows_processed = %s WHERE id = %s",
                [self.rows, self.import_id],
            )
            self.reported = self.rows
        except psycopg.Error:  # progress is best effort; the import itself is unaffected
            logger.warning("could not report progress of tape import %s", self.import_id)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Clock:
    """The import's phases and how long each took, logged once it is done."""

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self.last, 3)
        self.last = now

    def log(self) -> None:
        logger.info("tape import %s phases (s): %s", self.import_id, self.laps)

"""One import's context, passed whole to each step (as Saleor passes ``CheckoutInfo``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from listings.models import LoanTapeImport, Package
from listings.tape import format as tape_format
from listings.tape.kinds import SqlRow

if TYPE_CHECKING:
    from listings.tape.progress import Clock, Progress
    from listings.tape.reading import TapeSource


@dataclass
class TapeJob:
    """The tape being loaded, the package it loads into (locked), its file, and the header's
    positions of the format's columns."""

    tape: LoanTapeImport
    package: Package
    source: TapeSource
    positions: dict[str, int]
    progress: Progress
    hash_key: bytes
    clock: Clock | None = None

    @property
    def width(self) -> int:
        """The header's number of cells; every row has as many."""
        return len(self.source.header)

    @property
    def columns(self) -> list[tape_format.Column]:
        """The format's columns the tape has, in the format's order."""
        return [c for c in tape_format.COLUMNS if c.name in self.positions]

    def sql_row(self) -> SqlRow:
        return SqlRow(self.positions, self.package.cut_off_date, self.package.currency)

    def lap(self, name: str) -> None:
        if self.clock is not None:
            self.clock.lap(name)

    def rows_counted(self, rows: int) -> None:
        """The tape's row count is known: on the import (saved with its outcome) and as
        progress."""
        self.tape.rows_total = rows
        self.progress.rows = rows
        self.progress.flush()

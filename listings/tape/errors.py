"""A tape's errors: each with its line (header = line 1, 0 for the whole tape), column, code
and message, as an import reports them (API.md)."""

from __future__ import annotations

from typing import TypedDict

from listings.codes import TapeErrorCode

MAX_ERRORS_KEPT = 1000


class TapeError(TypedDict):
    line: int
    column: str | None
    code: str
    message: str


def tape_error(line: int, column: str | None, code: str, message: str) -> TapeError:
    return {"line": line, "column": column, "code": code, "message": message}


class TapeRejected(Exception):
    """The tape is invalid; carries every error found (the first MAX_ERRORS_KEPT) and their
    total."""

    def __init__(self, errors: list[TapeError], total: int | None = None) -> None:
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__(f"{self.total} errors")

    @classmethod
    def one(cls, line: int, code: TapeErrorCode, message: str) -> TapeRejected:
        """A tape-level error, not tied to a column."""
        return cls([tape_error(line, None, code, message)])


class Miss(Exception):
    """The fast path does not take this tape; the SQL path decides."""

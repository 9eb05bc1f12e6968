"""The refusals settlement raises (API.md "Settlements, ledger, transfers")."""

from __future__ import annotations

from marketplace.common.errors import Conflict
from settlement.codes import ErrorCode


class AmountMismatch(Conflict):
    """The confirmed amount is not the balance due; the problem carries ``expected_amount``."""

    code = ErrorCode.AMOUNT_MISMATCH
    default_detail = "The amount paid does not equal the balance due."


class NoRunnerUp(Conflict):
    code = ErrorCode.NO_RUNNER_UP
    default_detail = "No other eligible bidder of this auction to offer the package to."

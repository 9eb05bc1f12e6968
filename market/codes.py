"""The problem+json codes market data raises, declared once (API.md, "Market data")."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INSUFFICIENT_DATA = "insufficient_data"


class AuditAction(StrEnum):
    """Recorded in the settlement's stream when a completed sale becomes a deal fact."""

    DEAL_RECORDED = "market.deal_recorded"
    # seed_market_history wrote (or replaced) the synthetic history, in the market stream.
    HISTORY_SEEDED = "market.history_seeded"

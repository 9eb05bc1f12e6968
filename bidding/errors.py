"""The refusals bidding raises (API.md "Bids"), mapped to problem+json by the API."""

from __future__ import annotations

from bidding.codes import ErrorCode
from marketplace.common.errors import Conflict, DomainError, Forbidden


class AuctionNotOpen(Conflict):
    code = ErrorCode.AUCTION_NOT_OPEN
    default_detail = "The auction is not open for bids."


class BidTooLow(Conflict):
    code = ErrorCode.BID_TOO_LOW
    default_detail = "The bid is below the minimum."


class AlreadyLeading(Conflict):
    code = ErrorCode.ALREADY_LEADING
    default_detail = "You already hold the leading bid."


class NotRegistered(Forbidden):
    code = ErrorCode.NOT_REGISTERED
    default_detail = "Your organisation is not registered for this auction."


class DepositNotConfirmed(Forbidden):
    code = ErrorCode.DEPOSIT_NOT_CONFIRMED
    default_detail = "Your deposit for this auction has not been confirmed yet."


class BuyerNotEligible(Forbidden):
    code = ErrorCode.BUYER_NOT_ELIGIBLE
    default_detail = "Your organisation is not eligible to bid."


class StreamNotServedHere(DomainError):
    """The live stream is served by the ASGI process, not by the sync web workers (which one
    open stream would hold for as long as it lasts)."""

    status_code = 421  # Misdirected Request: this server does not produce this response
    code = ErrorCode.STREAM_NOT_SERVED_HERE
    default_detail = "The live stream is served by the stream server (see stream_url)."

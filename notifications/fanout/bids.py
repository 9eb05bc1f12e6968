"""``bid.placed`` and ``bid.outbid``: the hot path's events, written as one ``INSERT ... SELECT``
that the bid path runs inside its own single write statement (``marketplace.audit.listeners``,
``SqlWrite``), so a bid costs no extra round trip.

Visibility (API.md "Bids"): the bidder is told of its own bid; on an English auction the seller
too (with the buyer's id: it sees organisation names), and the bidder of the previous bid, if
another organisation, that it was outbid (the new price and minimum, never by whom: an English
bid always leads, so the previous bid's bidder has just lost the lead). A sealed auction's bids
stay secret from everyone but their bidder until it closes. The statement reads the auction
and the previous bid as they were before the bid's own statement (a ``WITH`` statement's parts
share one snapshot), under the auction's row lock the bid path holds.
"""

from __future__ import annotations

import json

from bidding.models import AuctionFormat
from marketplace.audit.listeners import SqlWrite
from marketplace.audit.models import AuditEvent
from notifications.catalog import EventType
from notifications.models import Event

_EVENTS = Event._meta.db_table
_SQL = f"""
    INSERT INTO {_EVENTS} (public_id, type, organization_id, data, dedup_key, created_at)
    SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), n.type, n.organization_id,
           n.data, '', %s
    FROM (
        SELECT %s::text AS type, %s::bigint AS organization_id, %s::jsonb AS data
        UNION ALL
        SELECT %s::text, a.seller_id, %s::jsonb
        FROM bidding_auction a WHERE a.id = %s AND a.format = %s
        UNION ALL
        SELECT %s::text, previous.buyer_id, jsonb_build_object(
                   'auction_id', a.id,
                   'current_price', %s::text,
                   'minimum_next_bid', (%s::numeric + a.min_increment)::text)
        FROM bidding_auction a
        JOIN bidding_bid previous ON previous.auction_id = a.id AND previous.sequence = %s
        WHERE a.id = %s AND a.format = %s AND previous.buyer_id <> %s
    ) n
"""  # noqa: S608  (table names from the models; values are parameters)


def bid_placed_write(event: AuditEvent) -> SqlWrite | None:
    """The events of one accepted bid, as one statement (see the module's docstring); None for
    an event that is not a bid's (no bidding organisation, amount or sequence)."""
    bidder = event.actor_organization_id
    data = event.data
    if event.object_type != "auction" or bidder is None or not {"amount", "sequence"} <= set(data):
        return None
    auction_id = int(event.object_id)
    own = {
        "auction_id": auction_id,
        **{k: data.get(k) for k in ("bid_id", "amount", "sequence", "placed_at")},
    }
    english = str(AuctionFormat.ENGLISH)
    amount = str(data["amount"])
    params = [
        event.occurred_at,
        *(str(EventType.BID_PLACED), bidder, json.dumps(own)),
        *(str(EventType.BID_PLACED), json.dumps({**own, "buyer_id": bidder}), auction_id, english),
        *(str(EventType.BID_OUTBID), amount, amount, int(data["sequence"]) - 1),
        *(auction_id, english, bidder),
    ]
    return SqlWrite(_SQL, params)

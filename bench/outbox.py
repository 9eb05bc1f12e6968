"""What the events outbox costs the bid path: ``bid_place`` in this process, alternating rounds
with the notifications listener registered and unregistered, on fresh English auctions.

    .venv/bin/python bench/outbox.py [--bids 300] [--rounds 3]

Each round places ``--bids`` bids alternately by two bidders on a new auction (no soft close),
once with the outbox (its events written in the bid's own statement, the relay kicked after
commit) and once without; prints the median and p95 latency of each. Run by ``make bench-outbox``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from decimal import Decimal

from benchlib import django_start, percentile, say  # bench/, this script's folder, is first


def _round(seller, bids: int) -> list[float]:
    from bidding.services.bids import bid_place
    from tests.bidding.conftest import make_auction, register
    from tests.factories import make_bidder

    auction = make_auction(
        seller,
        reserve_price=None,
        soft_close_seconds=0,
        ends_in=dt.timedelta(hours=2),
        starting_price=Decimal("1000.00"),
        min_increment=Decimal("1.00"),
        deposit_amount=Decimal("0"),
    )
    bidders = [make_bidder(), make_bidder()]
    for bidder in bidders:
        register(bidder, auction)
    price, samples = Decimal("1000.00"), []
    for i in range(bids):
        started = time.perf_counter()
        bid_place(actor=bidders[i % 2], auction_id=auction.pk, amount=price)
        samples.append((time.perf_counter() - started) * 1000)
        price += 1
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _, database = django_start()
    from marketplace.audit.listeners import listen, unlisten
    from notifications.outbox import outbox_on_audit_event
    from tests.factories import OrganizationFactory, UserFactory, make_bank_officer

    start = int(time.time())  # factory names never collide with an earlier run's
    OrganizationFactory.reset_sequence(start)
    UserFactory.reset_sequence(start)
    seller = make_bank_officer()
    say(f"bid_place latency, {args.bids} bids per round, {database}")
    for n in range(args.rounds):
        with_outbox = _round(seller, args.bids)
        unlisten(outbox_on_audit_event)
        try:
            without = _round(seller, args.bids)
        finally:
            listen(outbox_on_audit_event)
        say(
            f"round {n + 1}: with outbox median {statistics.median(with_outbox):.2f} ms, "
            f"p95 {percentile(with_outbox, 95):.2f} ms; without median "
            f"{statistics.median(without):.2f} ms, p95 {percentile(without, 95):.2f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

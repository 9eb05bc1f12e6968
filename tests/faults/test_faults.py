"""Bounded runs of the fault scripts (issue 11, item 1): the close storm and transfers under a
SIGKILLed worker pool, with real worker and beat processes on the test database. The full runs
(``python -m tests.faults.close_storm``, ``python -m tests.faults.transfer_crash``) are
recorded in docs/RELIABILITY.md; these check the same exactly-once invariants on a few.

Timing targets are the scripts' to report, not asserted here; only that every auction closes
and every transfer completes at all, exactly once.
"""

from __future__ import annotations

import pytest

from tests.bidding.test_worker import private_broker_url, publishing_to, worker_database_url
from tests.factories import make_bidder
from tests.faults import close_storm, transfer_crash
from tests.faults.processes import CeleryProcess, broker_reset, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_close_storm_with_a_killed_pool_closes_every_auction_exactly_once(
    seller_user, compliance_user, tmp_path
):
    broker_url = private_broker_url()
    broker_reset(broker_url)
    env = process_env(worker_database_url(), broker_url, {"AUCTION_SWEEP_SECONDS": "1"})
    cast = close_storm.Cast(seller=seller_user, compliance=compliance_user, bidder=make_bidder())
    pool = CeleryProcess("critical", env, tmp_path / "critical.log", "critical", 2)
    beat = CeleryProcess("beat", env, tmp_path / "beat.log")
    with publishing_to(broker_url):
        ids = close_storm.open_auctions(cast, 20)
        try:
            pool.start(wait=False)
            beat.start()
            pool.wait_ready(0)
            ends = close_storm.move_ends(ids, window=2.0)
            result = close_storm.run_storm(
                phase="kills", ids=ids, ends=ends, pool=pool, kills=1, sweep_seconds=1, window=2
            )
        finally:
            beat.stop()
            pool.stop()

    print(result.summary())
    assert result.problems == [], f"{result.problems}\n{pool.tail()}"
    assert len(result.delays) == 20 and len(result.restarts) == 1


def test_transfers_under_a_killed_pool_each_happen_exactly_once(seller_user, tmp_path):
    broker_url = private_broker_url()
    broker_reset(broker_url)
    env = process_env(
        worker_database_url(),
        broker_url,
        {"TRANSFER_SWEEP_SECONDS": "1", "TRANSFER_SWEEP_GRACE_SECONDS": "0"},
    )
    with publishing_to(broker_url):
        ids = transfer_crash.paid_settlements(4, 2000)
    result = transfer_crash.TransferResult(settlements=4, loans_each=2005)
    pool = CeleryProcess("critical", env, tmp_path / "critical.log", "critical", 2)
    beat = CeleryProcess("beat", env, tmp_path / "beat.log")
    try:
        beat.start()
        transfer_crash.run_transfers(ids=ids, pool=pool, kills=1, result=result)
    finally:
        beat.stop()
        pool.stop()
    transfer_crash.check_transfers(ids, result)

    print(result.summary())
    assert result.problems == [], f"{result.problems}\n{pool.tail()}"
    assert len(result.kills) == 1

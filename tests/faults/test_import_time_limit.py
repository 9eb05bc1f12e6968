"""A tape import stuck in the database is cut off by its time limit on a real worker.

A real imports pool (prefork, as ``make run`` and docker-compose start it) runs an import whose
package row this test holds locked in a connection of its own, so the import waits in
PostgreSQL for as long as the test wants. With ``TAPE_IMPORT_SOFT_TIME_LIMIT`` set to a few
seconds for the worker, the import must fail (``invalid_file``, its upload removed) within its
limit, its statement must be gone from the server, and the pool must be free for the next
import, while the lock is still held.

The messages are published by this process with its own (default, 600 s) limits, as web, beat
and the tape sweep publish them: Celery writes the publisher's limits into the message, and
those used to win over the worker's, so the worker's limit never applied.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from listings.models import LoanTapeImport, TapeStatus
from marketplace.celery import app
from tests.bidding.test_worker import private_broker_url, publishing_to, worker_database_url
from tests.faults.processes import CeleryProcess, broker_reset, process_env
from tests.faults.test_queues import _hold_package_lock, _upload
from tests.support import make_package

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SOFT_LIMIT = 3
# The soft limit plus the time the failure takes to be written on a loaded machine.
WAIT_AT_MOST = 60.0


def _wait_finished(pk: int, until: float) -> LoanTapeImport:
    tape = LoanTapeImport.objects.get(pk=pk)
    while tape.status not in (TapeStatus.FAILED, TapeStatus.SUCCEEDED) and time.monotonic() < until:
        time.sleep(0.2)
        tape = LoanTapeImport.objects.get(pk=pk)
    return tape


def _backends_waiting_on_a_lock(until: float) -> list[str]:
    """The statements of this database waiting on a lock, once none is left or at ``until``."""
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT query FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            waiting = [row[0] for row in cursor.fetchall()]
        if not waiting or time.monotonic() > until:
            return waiting
        time.sleep(0.2)


def test_an_import_waiting_on_a_lock_is_cut_off_by_its_time_limit(
    seller_user, tape_storage, tmp_path
):
    broker_url = private_broker_url()
    broker_reset(broker_url)
    app.loader.import_default_modules()  # as in web and beat: the publisher knows the task
    assert app.tasks["listings.loan_tape_import"].soft_time_limit > 10 * SOFT_LIMIT
    stuck_package = make_package(seller_user, title="Locked by someone else")
    with publishing_to(broker_url):  # queued now, imported once the pool runs
        stuck = _upload(stuck_package, "stuck.csv")
        after = _upload(make_package(seller_user, title="Queued behind it"), "after.csv")
    env = process_env(
        worker_database_url(), broker_url, {"TAPE_IMPORT_SOFT_TIME_LIMIT": str(SOFT_LIMIT)}
    )
    pool = CeleryProcess("imports", env, tmp_path / "imports.log", "imports", 1)
    release, held = threading.Event(), threading.Event()
    locker = threading.Thread(target=_hold_package_lock, args=(stuck_package.pk, release, held))
    locker.start()
    try:
        assert held.wait(30)
        pool.start()
        started = time.monotonic()
        stuck = _wait_finished(stuck.pk, started + WAIT_AT_MOST)
        took = time.monotonic() - started
        after = _wait_finished(after.pk, started + WAIT_AT_MOST)
        waiting = _backends_waiting_on_a_lock(until=time.monotonic() + 10)
        still_held = not release.is_set()
    finally:
        release.set()
        locker.join(30)
        pool.stop()

    log = pool.log_path.read_text()
    assert stuck.status == TapeStatus.FAILED, f"not cut off within {took:.0f} s:\n{log[-4000:]}"
    assert [e["code"] for e in stuck.errors] == ["invalid_file"]
    assert f"time limit ({SOFT_LIMIT} s)" in stuck.errors[0]["message"]
    assert not Path(stuck.stored_path).exists()
    # Its statement did not stay behind on the server, waiting with the import's locks.
    assert waiting == [], waiting
    # The pool's only process was freed while the lock was still held: the next import ran.
    assert still_held and after.status == TapeStatus.SUCCEEDED, log[-4000:]

"""A real worker killed with SIGKILL in the middle of a 100k-loan transfer, then restarted,
completes it exactly once (DESIGN.md invariant 5; issue 10, acceptance).

No mock: a Celery worker process runs ``settlement.loans_transfer`` against the test database;
this test watches ``pg_stat_activity`` until the worker's backend is running the loans' UPDATE,
kills the worker's whole process group, checks that nothing was committed, and starts a new
worker whose beat sweep finds the paid settlement again. The killed worker's backend is still
running the UPDATE for a client that is gone; the transfer sets
``client_connection_check_interval`` so PostgreSQL aborts it instead of finishing it (until then
the new worker waits on the settlement's row lock).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from decimal import Decimal

import pytest
import redis
from django.db import connection

from listings.models import Loan, Package
from marketplace.audit.models import AuditEvent
from marketplace.celery import app as celery_app
from marketplace.ledger.models import Entry
from settlement.models import Settlement, Transfer
from settlement.tasks import loans_transfer
from tests.bidding.test_worker import (
    private_broker_url,
    publishing_to,
    start_worker,
    stop_worker,
    tail,
    wait_until_ready,
)
from tests.settlement.conftest import digest_of, paid_settlement_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXTRA_LOANS = 100_000
CATCH_TIMEOUT = 120
COMPLETE_TIMEOUT = 180

# 100,000 more loans on the package's current tape, copied from its first loan (one statement).
_BULK_LOANS_SQL = """
INSERT INTO listings_loan (
    package_id, tape_import_id, loan_id, borrower_hash, product_type, currency,
    origination_date, default_date, outstanding_principal, accrued_interest, fees_and_penalties,
    balance, days_past_due, last_payment_date, last_payment_amount, interest_rate, borrower_age,
    region, legal_status, classification, written_off
)
SELECT l.package_id, l.tape_import_id, 'BULK-' || lpad(g::text, 7, '0'),
       encode(sha256(convert_to(g::text, 'UTF8')), 'hex'), l.product_type, l.currency,
       l.origination_date, l.default_date, l.outstanding_principal + g / 100.0,
       l.accrued_interest, l.fees_and_penalties, l.balance + g / 100.0, l.days_past_due,
       l.last_payment_date, l.last_payment_amount, l.interest_rate, l.borrower_age, l.region,
       l.legal_status, l.classification, l.written_off
FROM listings_loan l, generate_series(1, %s) g
WHERE l.id = (SELECT min(id) FROM listings_loan WHERE tape_import_id = %s)
"""

_MOVE_RUNNING_SQL = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
  AND query LIKE '%%UPDATE listings_loan%%'
"""


def _package_of_100k_loans(seller_user) -> Settlement:
    settlement = paid_settlement_of(seller_user)
    package = Package.objects.get(pk=settlement.package_id)
    with connection.cursor() as cursor:
        cursor.execute(_BULK_LOANS_SQL, [EXTRA_LOANS, package.current_tape_id])
        cursor.execute("ANALYZE listings_loan")
    return settlement


def _kill_when_the_move_runs(worker, log_path) -> None:
    deadline = time.monotonic() + CATCH_TIMEOUT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"the worker exited before the move:\n{tail(log_path)}")
        with connection.cursor() as cursor:
            cursor.execute(_MOVE_RUNNING_SQL)
            if cursor.fetchone() is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=15)
                return
        time.sleep(0.01)
    pytest.fail(f"the worker never ran the loans' UPDATE:\n{tail(log_path)}")


def _wait_until_completed(settlement: Settlement, worker, log_path) -> None:
    deadline = time.monotonic() + COMPLETE_TIMEOUT
    while time.monotonic() < deadline:
        if Settlement.objects.get(pk=settlement.pk).status == "completed":
            return
        if worker.poll() is not None:
            pytest.fail(f"the restarted worker exited:\n{tail(log_path)}")
        time.sleep(0.5)
    pytest.fail(f"not completed after the restart:\n{tail(log_path)}")


def test_a_worker_killed_mid_transfer_then_restarted_transfers_exactly_once(
    seller_user, tape_storage, tmp_path, monkeypatch
):
    settlement = _package_of_100k_loans(seller_user)
    broker_url = private_broker_url()
    redis.Redis.from_url(broker_url).delete(celery_app.conf.task_default_queue)
    monkeypatch.setenv("TRANSFER_SWEEP_SECONDS", "1")
    monkeypatch.setenv("TRANSFER_SWEEP_GRACE_SECONDS", "3600")  # the first worker: no sweep
    first_log = tmp_path / "first.log"
    with open(first_log, "wb") as log:
        worker = start_worker(broker_url, tmp_path, log)
    try:
        wait_until_ready(worker, first_log)
        with publishing_to(broker_url):
            loans_transfer.delay(settlement.pk)
        _kill_when_the_move_runs(worker, first_log)
    finally:
        stop_worker(worker)

    # Killed before its commit: nothing of the transfer is visible.
    assert Settlement.objects.get(pk=settlement.pk).status == "paid"
    assert not Transfer.objects.exists()

    monkeypatch.setenv("TRANSFER_SWEEP_GRACE_SECONDS", "0")  # the restarted worker's sweep
    second_log = tmp_path / "second.log"
    (tmp_path / "second").mkdir()
    with open(second_log, "wb") as log:
        worker = start_worker(broker_url, tmp_path / "second", log)
    try:
        wait_until_ready(worker, second_log)
        _wait_until_completed(settlement, worker, second_log)
        time.sleep(3)  # a few more sweeps: none may transfer again
    finally:
        stop_worker(worker)

    [transfer] = Transfer.objects.filter(settlement_id=settlement.pk)
    loans = Loan.objects.filter(package_id=settlement.package_id)
    assert transfer.loan_count == EXTRA_LOANS + 5 == loans.count()
    assert loans.filter(owner_id=settlement.buyer_id, transfer_id=transfer.pk).count() == (
        transfer.loan_count
    )
    pairs = list(loans.values_list("loan_id", "balance"))
    assert transfer.digest == digest_of(pairs)
    assert transfer.total_balance == sum((b for _, b in pairs), Decimal(0))
    stream = AuditEvent.objects.filter(stream=f"settlement:{settlement.pk}")
    assert stream.filter(action="loans.transferred").count() == 1
    assert stream.filter(action="seller.paid_out").count() == 1
    payouts = Entry.objects.filter(settlement_id=settlement.pk, kind="seller_payout")
    assert payouts.values("transaction_id").distinct().count() == 1
    assert Package.objects.get(pk=settlement.package_id).status == "sold"

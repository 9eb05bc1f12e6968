"""Transfers of ownership while the worker dies: many paid settlements transferred by a real
critical worker pool that this script SIGKILLs mid-transfer and restarts (issue 11, item 1;
the settlement issue's single crash test, scaled up).

    python -m tests.faults.transfer_crash [--settlements 50] [--loans 2000] [--kills 3]
                                          [--concurrency 4]

It starts the embedded servers if needed (or uses ``DATABASE_URL``/``REDIS_URL``), migrates,
and creates ``--settlements`` paid settlements in the development database, each of a package
of 5 + ``--loans`` loans; paying enqueues each transfer (on commit). A critical pool and beat
(transfer sweep every second, no grace) then transfer them, while the script kills the pool's
process group whenever one of its backends is running a transfer's UPDATE of the loans and a
further share of the settlements is done, ``--kills`` times, restarting it each time.

Checks, for every settlement: completed, exactly one transfer record whose loan count is the
package's, every loan owned by the buyer through that transfer, exactly one
``loans.transferred`` and one ``seller.paid_out`` audit event. Exit status 1 when one fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

COMPLETE_TIMEOUT = 600.0
CATCH_TIMEOUT = 60.0
_MOVE_RUNNING_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
  AND query LIKE '%%UPDATE listings_loan%%'
"""


@dataclass
class TransferResult:
    settlements: int
    loans_each: int
    kills: list[int] = field(default_factory=list)  # transfers running at each kill
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verdict = "exactly once: OK" if not self.problems else f"FAILED ({len(self.problems)})"
        return (
            f"transfers: {self.settlements} paid settlements of {self.loans_each} loans, "
            f"{len(self.kills)} SIGKILLs while {sum(self.kills)} transfers were running, "
            f"all completed in {self.seconds:.1f} s; {verdict}"
        )


def paid_settlements(count: int, extra_loans: int) -> list[int]:
    """``count`` paid settlements (each enqueues its transfer on commit), of 5 + extra loans."""
    from django.db import connection

    from listings.models import Package
    from tests.factories import make_bank_officer
    from tests.settlement.conftest import paid_settlement_of
    from tests.settlement.test_transfer_crash import _BULK_LOANS_SQL

    seller = make_bank_officer()
    ids = []
    for _ in range(count):
        settlement = paid_settlement_of(seller)
        if extra_loans:
            package = Package.objects.get(pk=settlement.package_id)
            with connection.cursor() as cursor:
                cursor.execute(_BULK_LOANS_SQL, [extra_loans, package.current_tape_id])
        ids.append(settlement.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE listings_loan")
    return ids


def _transfers_running() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_MOVE_RUNNING_SQL)
        return int(cursor.fetchone()[0])


def _completed(ids: list[int]) -> int:
    from settlement.models import Settlement

    return Settlement.objects.filter(pk__in=ids, status="completed").count()


def run_transfers(*, ids: list[int], pool, kills: int, result: TransferResult) -> None:
    """Start ``pool``; kill it mid-transfer ``kills`` times (each after a further share of the
    settlements completed), restarting it; wait until every settlement completed."""
    started = time.monotonic()
    pool.start()
    for k in range(kills):
        threshold = len(ids) * (k + 1) // (kills + 2)
        deadline = time.monotonic() + CATCH_TIMEOUT
        while time.monotonic() < deadline:
            if _completed(ids) >= threshold and (running := _transfers_running()):
                break
            time.sleep(0.01)
        else:
            running = 0
        pool.kill()
        result.kills.append(running)
        pool.start()
    deadline = time.monotonic() + COMPLETE_TIMEOUT
    while _completed(ids) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    result.seconds = time.monotonic() - started
    time.sleep(3)  # a few more sweeps: none may transfer again


def check_transfers(ids: list[int], result: TransferResult) -> None:
    from listings.models import Loan
    from marketplace.audit.models import AuditEvent
    from settlement.models import Settlement, Transfer

    keys = [str(i) for i in ids]
    events = AuditEvent.objects.filter(object_type="settlement", object_id__in=keys)
    moved = Counter(events.filter(action="loans.transferred").values_list("object_id", flat=True))
    paid = Counter(events.filter(action="seller.paid_out").values_list("object_id", flat=True))
    transfers = Counter(
        Transfer.objects.filter(settlement_id__in=ids).values_list("settlement_id", flat=True)
    )
    for settlement in Settlement.objects.filter(pk__in=ids).order_by("pk"):
        key = str(settlement.pk)
        if settlement.status != "completed":
            result.problems.append(f"settlement {key}: {settlement.status}")
            continue
        for name, count in (
            ("transfers", transfers[settlement.pk]),
            ("loans.transferred events", moved[key]),
            ("seller.paid_out events", paid[key]),
        ):
            if count != 1:
                result.problems.append(f"settlement {key}: {count} {name}")
        transfer = Transfer.objects.get(settlement_id=settlement.pk)
        loans = Loan.objects.filter(package_id=settlement.package_id)
        owned = loans.filter(owner_id=settlement.buyer_id, transfer_id=transfer.pk).count()
        if not transfer.loan_count == loans.count() == owned:
            result.problems.append(
                f"settlement {key}: {transfer.loan_count} recorded, {loans.count()} loans, "
                f"{owned} owned by the buyer"
            )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.transfer_crash")
    parser.add_argument("--settlements", type=int, default=50)
    parser.add_argument("--loans", type=int, default=2000, help="extra loans per package")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--broker-db", type=int, default=14)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, database_url: str, broker_url: str, log_dir: Path):
    from tests.faults.processes import CeleryProcess, broker_reset, process_env

    env = process_env(
        database_url,
        broker_url,
        {"TRANSFER_SWEEP_SECONDS": "1", "TRANSFER_SWEEP_GRACE_SECONDS": "0"},
    )
    broker_reset(broker_url)
    ids = paid_settlements(args.settlements, args.loans)
    result = TransferResult(settlements=len(ids), loans_each=5 + args.loans)
    pool = CeleryProcess("critical", env, log_dir / "critical.log", "critical", args.concurrency)
    beat = CeleryProcess("beat", env, log_dir / "beat.log")
    try:
        beat.start()
        run_transfers(ids=ids, pool=pool, kills=args.kills, result=result)
    finally:
        beat.stop()
        pool.stop()
    check_transfers(ids, result)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from tests.faults.cli import django_against_embedded, unique_factory_names

    with django_against_embedded(args.broker_db) as (database_url, broker_url):
        unique_factory_names()
        log_dir = Path(tempfile.mkdtemp(prefix="transfer-crash-"))
        print(f"transfer crash: logs in {log_dir}", flush=True)
        result = run(args, database_url, broker_url, log_dir)
    print(result.summary(), flush=True)
    for problem in result.problems[:20]:
        print(f"  {problem}", flush=True)
    return 1 if result.problems else 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    sys.exit(main())

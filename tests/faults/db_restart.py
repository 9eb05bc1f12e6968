"""PostgreSQL restarted under load (issue 11, item 3).

    python -m tests.faults.db_restart [--down 5]

Runs the stack (gunicorn, a Celery worker, beat) on its own embedded PostgreSQL and Redis
(``var/faults/db-restart``). Two pairs of buyers outbid each other over HTTP and a probe reads
``/readyz`` while PostgreSQL is stopped (fast shutdown: every connection is cut), kept down for
``--down`` seconds and started again on the same port and data. Three auctions end during the
outage with their close messages due then (the worker's tasks fail and retry). Prints a JSON
report: every status code seen (only 2xx and 503 allowed: never a 500), the time from the
database's return to the first accepted bid and to a ready ``/readyz``, and whether the
auctions due during the outage closed exactly once. Exit status 0 when all of that holds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.faults import outage_kit as kit


def _probe_forever(base_url: str, seen: kit.Seen, stop: threading.Event) -> None:
    while not stop.is_set():
        status, body, _ = kit.call("GET", f"{base_url}/readyz", timeout=10)
        seen.add(status, body)
        time.sleep(0.5)


RETRY = re.compile(r"Task ([\w.]+)\[[0-9a-f-]{36}\] retry: Retry in")


def _closed_after(auction_ids: list[int], since: dt.datetime) -> list[float | None]:
    """Seconds from the database's return to each auction's close."""
    from bidding.models import Auction

    return [
        None if closed_at is None else round((closed_at - since).total_seconds(), 2)
        for closed_at in Auction.objects.filter(pk__in=auction_ids).values_list(
            "closed_at", flat=True
        )
    ]


def _first_after(seen: kit.Seen, t: float, status: int) -> float | None:
    times = [at for at, code, _ in seen.answers if at >= t and code == status]
    return round(min(times) - t, 2) if times else None


def _unavailable_answers(seen: kit.Seen) -> dict:
    """The 503s: all problem+json ``service_unavailable`` (the bids) or readyz's own body."""
    codes = kit.Counter(code for _, status, code in seen.answers if status == 503)
    return dict(codes)


def db_restart(
    env: dict[str, str],
    *,
    down: float,
    log_dir: Path,
    before: float = 3,
    after: float = 10,
    settle_timeout: float = 120,
) -> dict:
    """The whole scenario against a stack started with ``env``; the report."""
    from tools import embedded

    port = int(urlsplit(env["DATABASE_URL"]).port or 5432)
    with kit.running_stack(env, log_dir / "stack.out") as base_url:
        scenario = kit.build_scenario(with_payment=False)
        bids, probes = kit.Seen(), kit.Seen()
        stop = threading.Event()
        prober = threading.Thread(target=_probe_forever, args=(base_url, probes, stop))
        prober.start()
        try:
            with kit.bidding(base_url, scenario, bids):
                time.sleep(before)
                kit.move_ends(scenario.due, in_seconds=1, reschedule=True)
                t_down = time.monotonic()
                embedded.postgres_stop()
                stopped = time.monotonic() - t_down
                time.sleep(max(0.0, down - stopped))
                embedded.postgres_start_at(port)
                t_up, wall_up = time.monotonic(), kit.timezone.now()
                time.sleep(after)
        finally:
            stop.set()
            prober.join()
        return _report(scenario, bids, probes, (t_down, t_up, wall_up), log_dir, settle_timeout)


def _report(
    scenario: kit.Scenario,
    bids: kit.Seen,
    probes: kit.Seen,
    window: tuple,
    log_dir: Path,
    settle_timeout: float,
) -> dict:
    from django.db import connections

    t_down, t_up, wall_up = window
    connections.close_all()  # this process's connection died with the server
    everything = kit.Counter(s for _, s, _ in bids.answers + probes.answers)
    closed = kit.wait_until(
        lambda: all(n == 1 for n in kit.closes_of(scenario.due).values()), settle_timeout
    )
    retries = kit.Counter(
        match.group(1)
        for path in log_dir.glob("*.log")
        for match in RETRY.finditer(path.read_text(errors="replace"))
    )
    allowed = {200, 201, 503}
    return {
        "outage_seconds": round(t_up - t_down, 1),
        "statuses": dict(sorted(everything.items())),
        "bids_during_outage": dict(bids.between(t_down, t_up)),
        "readyz_during_outage": dict(probes.between(t_down, t_up)),
        "codes_of_503s": _unavailable_answers(bids),
        "slowest_503_bid_s": bids.slowest(503),
        "first_bid_accepted_after_return_s": _first_after(bids, t_up, 201),
        "readyz_ok_after_return_s": _first_after(probes, t_up, 200),
        "bids_refused_after_recovery": sum(
            1 for at, status, _ in bids.answers if status != 201 and at > t_up + 5
        ),
        "task_retries_logged": dict(retries),
        "due_auctions_closed_after_return_s": _closed_after(scenario.due, wall_up),
        "closed_events_per_due_auction": kit.closes_of(scenario.due),
        "settlements_per_due_auction": kit.settlements_of(scenario.due),
        "ok": set(everything) <= allowed
        and closed is not None
        and _first_after(bids, t_up, 201) is not None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.db_restart")
    parser.add_argument("--down", type=float, default=5.0, help="seconds PostgreSQL stays down")
    args = parser.parse_args(argv)
    with kit.own_servers("db-restart") as env:
        report = db_restart(env, down=args.down, log_dir=Path(env["DATA_DIR"]) / "log")
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

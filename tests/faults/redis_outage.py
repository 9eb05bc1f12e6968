"""Redis stopped for 20 s while buyers bid over HTTP (issue 11, item 2).

    python -m tests.faults.redis_outage [--down 20]

Runs the stack (gunicorn, a Celery worker, beat) on its own embedded PostgreSQL and Redis
(``var/faults/redis-outage``). Two pairs of buyers outbid each other on two soft-close
auctions (every bid extends the end, so every bid enqueues a close); three other auctions
end in the middle of the outage; the platform confirms a payment during it (which enqueues the
transfer). Prints a JSON report: bids accepted during the outage, what ``/readyz`` and
``/healthz`` said, and, after Redis is back, that every message enqueued while it was down was
published and run exactly once, every due auction closed exactly once, the transfer done once.
Exit status 0 when all of that holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.faults import outage_kit as kit


def _during(base_url: str, scenario: kit.Scenario, down: float) -> dict:
    """While Redis is down: confirm the payment once, probe the health endpoints every second."""
    from settlement.models import Settlement

    payment = None
    if scenario.settlement_id is not None:
        settlement = Settlement.objects.get(pk=scenario.settlement_id)
        payment = kit.call(
            "POST",
            f"{base_url}/api/v1/settlements/{settlement.pk}/confirm-payment/",
            token=scenario.compliance_token,
            body={"amount": str(settlement.balance_due), "reference": f"OUTAGE-{settlement.pk}"},
        )[0]
    # The login throttle counts in the Django cache, which is Redis.
    login = kit.call(
        "POST", f"{base_url}/api/v1/auth/token/", body={"username": "nobody", "password": "x"}
    )[0]
    probes = []
    start = time.monotonic()
    while time.monotonic() - start < down:
        probes.append(kit.probe(base_url))
        time.sleep(1)
    return {"payment_status": payment, "login_status": login, "probes": probes}


def _settle_after(
    scenario: kit.Scenario, log_dir: Path, window: tuple, t_up: float, timeout: float
) -> dict:
    """After Redis is back and bidding stopped: wait until every effect ran (each milestone
    timed from Redis's return), then tell what happened."""
    from settlement.models import Settlement, Transfer

    everything = scenario.due + [live.auction_id for live in scenario.live]

    def since_up(ok) -> float | None:
        return None if kit.wait_until(ok, timeout) is None else round(time.monotonic() - t_up, 1)

    def paid() -> bool:
        return (
            scenario.settlement_id is None
            or Transfer.objects.filter(settlement_id=scenario.settlement_id).exists()
        )

    drained = since_up(lambda: all(sent for _, _, sent, _ in kit.outbox_between(*window)))
    due_closed = since_up(lambda: all(n == 1 for n in kit.closes_of(scenario.due).values()))
    transferred = since_up(paid)
    ran = since_up(
        lambda: (
            kit.effects_ran_once(kit.outbox_between(*window), kit.task_runs(log_dir))
            and all(n == 1 for n in kit.closes_of(everything).values())
        )
    )
    messages = kit.outbox_between(*window)
    runs = kit.task_runs(log_dir)
    return {
        "after_return_s": {
            "outbox_drained": drained,
            "due_auctions_closed": due_closed,
            "transfer_done": transferred,
            "every_effect_ran": ran,
        },
        "messages_enqueued_while_down": len(messages),
        "messages_by_task": dict(sorted(kit.Counter(t for t, *_ in messages).items())),
        "messages_sent": sum(1 for m in messages if m[2]),
        "due_messages": sum(1 for m in messages if m[3]),
        "due_messages_run_exactly_once": sum(1 for m in messages if m[3] and runs[m[1]] == 1),
        "closed_events_per_auction": kit.closes_of(everything),
        "settlements_per_due_auction": kit.settlements_of(scenario.due),
        "settlement_status": Settlement.objects.get(pk=scenario.settlement_id).status
        if scenario.settlement_id
        else None,
        "transfers": Transfer.objects.filter(settlement_id=scenario.settlement_id).count(),
        "ok": None not in (drained, due_closed, transferred, ran),
    }


def redis_outage(
    env: dict[str, str],
    *,
    down: float,
    log_dir: Path,
    before: float = 3,
    after: float = 3,
    settle_timeout: float = 120,
) -> dict:
    """The whole scenario against a stack started with ``env``; the report."""
    from tools import embedded

    port = int(urlsplit(env["REDIS_URL"]).port or 6379)
    with kit.running_stack(env, log_dir / "stack.out") as base_url:
        scenario = kit.build_scenario()
        seen = kit.Seen()
        with kit.bidding(base_url, scenario, seen):
            time.sleep(before)
            kit.move_ends(scenario.due, in_seconds=down / 2)
            # From now on every bid extends its auction's end: every bid enqueues a close.
            kit.move_ends([live.auction_id for live in scenario.live], in_seconds=2)
            t_down, wall_down = time.monotonic(), kit.timezone.now()
            embedded.redis_stop()
            during = _during(base_url, scenario, down)
            embedded.redis_start_at(port)
            t_up, wall_up = time.monotonic(), kit.timezone.now()
            ready_after = kit.wait_until(lambda: kit.probe(base_url)["readyz"] == 200, 60)
            time.sleep(after)
        report = {
            "outage_seconds": round(t_up - t_down, 1),
            "bids_during_outage": dict(seen.between(t_down, t_up)),
            "slowest_accepted_bid_s": seen.slowest(201),
            "bids_before_and_after": dict(seen.between(0, t_down) + seen.between(t_up, 1e12)),
            "readyz_during_outage": dict(kit.Counter(p["readyz"] for p in during["probes"])),
            "healthz_during_outage": dict(kit.Counter(p["healthz"] for p in during["probes"])),
            "readyz_broker_check": during["probes"][-1]["checks"].get("broker")
            if during["probes"]
            else None,
            "payment_during_outage": during["payment_status"],
            "failed_login_during_outage": during["login_status"],
            "readyz_ok_after_return_s": None if ready_after is None else round(ready_after, 1),
        }
        report.update(_settle_after(scenario, log_dir, (wall_down, wall_up), t_up, settle_timeout))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.redis_outage")
    parser.add_argument("--down", type=float, default=20.0, help="seconds Redis stays stopped")
    args = parser.parse_args(argv)
    with kit.own_servers("redis-outage") as env:
        report = redis_outage(env, down=args.down, log_dir=Path(env["DATA_DIR"]) / "log")
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

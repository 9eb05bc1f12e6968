"""What the abuse limits and observability add to a request, measured in one process.

    .venv/bin/python bench/limits.py [--calls 2000] [--threads 16]
    make bench-limits

Against the Redis of the settings (the embedded one under var/ when REDIS_URL is unset):

1. ``ratelimit.check`` of the bid limit (one EVALSHA of the sliding-window script), sequential:
   latency percentiles per call;
2. the same from ``--threads`` threads at once on one bucket whose limit is exactly ``--calls``:
   admitted must equal the limit (the atomicity the tests prove, here at a larger scale), with
   the throughput;
3. one JSON log line (formatter + context filter) and one counter increment plus one histogram
   observation in multiprocess mode: the per-request cost of the access log and the request
   metrics.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import threading
import time
import uuid

from benchlib import percentile, say


def _timed(calls: int, fn) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _report(name: str, samples: list[float]) -> None:
    say(
        f"{name}: n={len(samples)} p50 {percentile(samples, 50):.3f} ms, "
        f"p99 {percentile(samples, 99):.3f} ms, max {max(samples):.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    import django

    django.setup()
    from django.conf import settings

    from marketplace.common import ratelimit
    from marketplace.observability import metrics
    from marketplace.observability.logs import ContextFilter, JsonFormatter

    run = uuid.uuid4().hex[:8]
    settings.BID_RATE_LIMIT = f"{args.calls * 10}/min"
    _report(
        "1. bid limit check (sequential)",
        _timed(args.calls, lambda: ratelimit.check(ratelimit.BIDS, f"bench-{run}")),
    )

    bucket = ratelimit.Bucket(ratelimit.key("bench", run), ratelimit.Rate(args.calls, 600))
    admitted = 0
    lock = threading.Lock()
    attempts = args.calls * 2 // args.threads

    def hammer() -> None:
        nonlocal admitted
        mine = 0
        for _ in range(attempts):
            if isinstance(ratelimit.admit([bucket]), ratelimit.Admission):
                mine += 1
        with lock:
            admitted += mine

    threads = [threading.Thread(target=hammer) for _ in range(args.threads)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    total = attempts * args.threads
    ok = admitted == min(args.calls, total)
    say(
        f"2. {args.threads} threads x {attempts} attempts on a limit of {args.calls}: "
        f"admitted {admitted} ({'PASS' if ok else 'FAIL'}), {total / elapsed:.0f} checks/s"
    )
    ratelimit.client().delete(bucket.key)

    logger = logging.getLogger("bench.access")
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    extra = {"method": "POST", "route": "/api/v1/auctions/{pk}/bids/", "status": 201}
    _report(
        "3a. JSON access log line",
        _timed(args.calls, lambda: logger.info("POST /x 201", extra=extra)),
    )

    def record() -> None:
        metrics.HTTP_REQUESTS.labels(method="POST", route="/bench", status="201").inc()
        metrics.HTTP_LATENCY.labels(method="POST", route="/bench").observe(0.01)

    _report("3b. request counter + latency histogram (multiprocess)", _timed(args.calls, record))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

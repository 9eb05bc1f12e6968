"""Market data benchmark: the price index and a valuation over HTTP with 10,000 past deals.

    .venv/bin/python bench/market.py [--deals 10000] [--requests 200] [--keep]

Against the database of the settings (embedded unless DATABASE_URL is set):

1. writes ``--deals`` synthetic deals (``market.synthetic``, sellers "Synthetic Bench Bank N",
   labelled synthetic) unless exactly that many are already there;
2. creates a bank, its disposal officer and a draft package with a 2,000-loan generated tape
   (imported through the service), to be valued;
3. starts gunicorn (2 workers), logs in as that seller, times the first valuation of each
   worker (the model's fit on every deal, with its 5-fold cross-validation), then
   ``--requests`` sequential GETs each of the price index by quarter, the index by quarter x
   product type x DPD bucket, its CSV, and the package's valuation;
4. removes the bench deals (unless ``--keep``); the bench bank and package stay.

Targets: price index p95 < 100 ms, valuation p95 < 200 ms (through HTTP, after warm-up).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import (
    HOST,
    django_start,
    free_port,
    percentile,
    say,
    start_gunicorn,
    stop_gunicorn,
    verdict,
    wait_healthy,
)

PASSWORD = "Bench-market-pw-2026!"  # noqa: S105  (a throwaway bench account)
ORG_NAME = "Bench Market Bank"
USERNAME = "bench-market-officer"
SELLER_PREFIX = "Synthetic Bench Bank"
INDEX_P95_MS = 100
VALUATION_P95_MS = 200


def bench_deals(count: int) -> int:
    """Exactly ``count`` synthetic deals of the bench's synthetic sellers; how many were written."""
    from django.db import transaction
    from django.utils import timezone

    from market.models import Deal
    from market.synthetic import synthetic_history, synthetic_sellers
    from market.versions import deals_changed

    sellers = synthetic_sellers(8, prefix=SELLER_PREFIX)
    mine = Deal.objects.filter(synthetic=True, seller__name__startswith=SELLER_PREFIX)
    if mine.count() == count:
        return 0
    with transaction.atomic():
        mine.delete()
        deals_changed()
        deals = synthetic_history(count=count, sellers=sellers, seed=2026, now=timezone.now())
        Deal.objects.bulk_create(deals, batch_size=2000)
    return count


def remove_bench_deals() -> None:
    from django.db import transaction

    from market.models import Deal
    from market.versions import deals_changed

    with transaction.atomic():
        Deal.objects.filter(synthetic=True, seller__name__startswith=SELLER_PREFIX).delete()
        deals_changed()


def seller_with_package() -> tuple[str, int]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from listings.services import loan_tape_process, loan_tape_upload, package_create
    from listings.tape_generator import write_tape
    from marketplace.accounts.models import Organization, User
    from marketplace.accounts.services import member_create, organization_create

    org = Organization.objects.filter(name=ORG_NAME).first()
    if org is None:
        org = organization_create(actor=None, name=ORG_NAME, kind="bank")
    user = User.objects.filter(username=USERNAME).first()
    if user is None or not user.check_password(PASSWORD):
        name = USERNAME if user is None else f"{USERNAME}-{int(time.time())}"
        user = member_create(
            actor=None,
            organization_id=org.pk,
            username=name,
            password=PASSWORD,
            role="disposal_officer",
        )
    package = package_create(
        actor=user, title="Bench market package", currency="CNY", cut_off_date=dt.date(2026, 9, 30)
    )
    with tempfile.TemporaryDirectory() as folder:
        path = write_tape(Path(folder) / "tape.csv", 2000, seed=5, currency="CNY")
        upload = SimpleUploadedFile("tape.csv", path.read_bytes())
    tape = loan_tape_upload(actor=user, package_id=package.pk, upload=upload, file_type="csv")
    tape = loan_tape_process(import_id=tape.pk)
    if tape.status != "succeeded":
        raise RuntimeError(f"bench tape import failed: {tape.errors[:3]}")
    return user.username, package.pk


def get(url: str, token: str) -> tuple[float, int]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        status = response.status
    return (time.perf_counter() - started) * 1000, status


def measure(base: str, token: str, package_id: int, requests: int) -> dict[str, list[float]]:
    paths = {
        "index by quarter": "/api/v1/market/price-index/",
        "index by quarter x product x dpd": (
            "/api/v1/market/price-index/?group_by=quarter,product_type,dpd_bucket"
        ),
        "index CSV by quarter x region": (
            "/api/v1/market/price-index/?group_by=quarter,region&format=csv"
        ),
        "valuation": f"/api/v1/packages/{package_id}/valuation/",
    }
    for name in ("index by quarter", "valuation"):  # the first: a cache miss, a fit per worker
        cold = ", ".join(f"{get(base + paths[name], token)[0]:.0f}" for _ in range(4))
        say(f"first 4 requests of {name}: {cold} ms")
    out: dict[str, list[float]] = {}
    for name, path in paths.items():
        samples = []
        for _ in range(requests):
            ms, status = get(base + path, token)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
            samples.append(ms)
        out[name] = samples
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the bench's synthetic deals")
    args = parser.parse_args(argv)
    log_dir, database = django_start()
    say(
        f"market data bench: {args.deals:,} deals, {args.requests} requests per endpoint; "
        f"{database}; {os.cpu_count()} CPUs; Python {platform.python_version()}"
    )
    started = time.perf_counter()
    written = bench_deals(args.deals)
    say(f"deals: {written:,} written in {time.perf_counter() - started:.1f} s")
    username, package_id = seller_with_package()
    port = free_port()
    log_path = log_dir / "bench-market-gunicorn.log"
    proc = start_gunicorn(port, log_path, ["--workers", "2"], log_level="WARNING")
    try:
        wait_healthy(port, proc, log_path)
        base = f"http://{HOST}:{port}"
        login = urllib.request.Request(
            f"{base}/api/v1/auth/token/",
            data=json.dumps({"username": username, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=30) as response:
            token = json.loads(response.read())["token"]
        results = measure(base, token, package_id, args.requests)
    finally:
        stop_gunicorn(proc)
        if not args.keep:
            remove_bench_deals()
    return report(results)


def report(results: dict[str, list[float]]) -> int:
    ok = True
    say("through HTTP (gunicorn, 2 workers), sequential:")
    for name, samples in results.items():
        target = VALUATION_P95_MS if name == "valuation" else INDEX_P95_MS
        p95 = percentile(samples, 95)
        passed = p95 < target
        ok &= passed
        say(
            f"  {name:<34} p50 {percentile(samples, 50):6.1f}  p95 {p95:6.1f}  "
            f"max {max(samples):7.1f} ms  (p95 < {target} ms) {verdict(passed)}"
        )
    say(f"overall: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

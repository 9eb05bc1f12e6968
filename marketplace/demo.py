"""Drive a sale through the REST API over HTTP, as its users would, printing each step.

Run by ``make demo`` against a live stack (``BASE_URL``, default http://127.0.0.1:8000) seeded by
``manage.py seed_demo``. Uses only HTTP (no project imports), so it exercises exactly what an API
client sees. Safe to run again: every run creates its own new objects.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-pass-2026")


class DemoError(RuntimeError):
    pass


class Client:
    def __init__(self, username: str | None = None) -> None:
        self.username = username
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int | tuple[int, ...] = (200, 201),
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(BASE_URL + path, data=data, method=method)  # noqa: S310
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        payload = json.loads(raw) if raw else None
        expected = (expect,) if isinstance(expect, int) else expect
        if status not in expected:
            raise DemoError(f"{method} {path} -> {status}, expected {expected}: {payload}")
        return status, payload

    def login(self) -> Client:
        _, body = self.request(
            "POST",
            "/api/v1/auth/token/",
            {"username": self.username, "password": PASSWORD},
            expect=200,
        )
        self.token = body["token"]
        return self


def step(number: int, text: str) -> None:
    print(f"\n[{number}] {text}", flush=True)


def show(text: str) -> None:
    print(f"    {text}", flush=True)


def foundation(admin: Client, compliance: Client) -> None:
    step(1, "Platform admin and compliance officer log in")
    _, me = admin.request("GET", "/api/v1/me/")
    show(f"admin: {me['username']} ({me['role']}) of {me['organization']['name']}")
    _, me = compliance.request("GET", "/api/v1/me/")
    show(f"compliance: {me['username']} ({me['role']})")

    step(2, "Admin onboards a new buyer organisation (pending) with a bidder")
    suffix = uuid.uuid4().hex[:6]
    _, org = admin.request(
        "POST",
        "/api/v1/organizations/",
        {
            "name": f"Demo Capital AMC {suffix}",
            "kind": "buyer",
            "licence_type": "local_amc",
            "registration_number": f"DEMO-{suffix}",
        },
        headers={"Idempotency-Key": f"demo-org-{suffix}"},
    )
    show(f"created organisation #{org['id']} {org['name']}: eligibility {org['eligibility']}")
    status, replay = admin.request(
        "POST",
        "/api/v1/organizations/",
        {
            "name": f"Demo Capital AMC {suffix}",
            "kind": "buyer",
            "licence_type": "local_amc",
            "registration_number": f"DEMO-{suffix}",
        },
        headers={"Idempotency-Key": f"demo-org-{suffix}"},
    )
    show(
        f"same request replayed with its Idempotency-Key -> {status}, same organisation "
        f"#{replay['id']} (nothing created twice)"
    )
    _, member = admin.request(
        "POST",
        f"/api/v1/organizations/{org['id']}/members/",
        {"username": f"demo_bidder_{suffix}", "password": PASSWORD, "role": "bidder"},
    )
    show(f"created user {member['username']} (role {member['role']})")

    step(3, "The new bidder cannot act for its organisation's review; compliance approves it")
    bidder = Client(member["username"]).login()
    status, problem = bidder.request(
        "POST", f"/api/v1/organizations/{org['id']}/approve/", {}, expect=403
    )
    show(f"bidder tries to approve -> {status} {problem['code']}")
    _, approved = compliance.request(
        "POST",
        f"/api/v1/organizations/{org['id']}/approve/",
        {"reason": "licence and KYC verified"},
    )
    show(f"compliance approves -> eligibility {approved['eligibility']}")
    status, problem = compliance.request(
        "POST", f"/api/v1/organizations/{org['id']}/approve/", {}, expect=409
    )
    show(f"approving again -> {status} {problem['code']}: {problem['detail']}")

    step(4, "Admin lists organisations")
    _, page = admin.request("GET", "/api/v1/organizations/?page_size=200")
    for item in page["results"]:
        extra = f", {item['eligibility']}" if item["kind"] == "buyer" else ""
        show(f"#{item['id']:<3} {item['name']:<32} {item['kind']}{extra}")
    show(f"{page['count']} organisations")

    step(5, "Compliance reads the audit trail of the new buyer and verifies every chain")
    _, events = compliance.request(
        "GET", f"/api/v1/audit-events/?object_type=organization&object_id={org['id']}"
    )
    for event in events["results"]:
        show(
            f"{event['stream']}#{event['sequence']} {event['action']:<22} by "
            f"{event['actor']['user'] or 'system'}  hash {event['hash'][:12]}…"
        )
    _, verify = compliance.request("GET", "/api/v1/audit-events/verify/")
    show(
        f"verify: valid={verify['valid']}, {verify['events_checked']} events in "
        f"{verify['streams_checked']} streams"
    )
    if not verify["valid"]:
        raise DemoError(f"audit chain invalid: {verify}")
    bidder.request("POST", "/api/v1/auth/logout/", {}, expect=204)
    bidder.request("GET", "/api/v1/me/", expect=401)
    show("bidder logs out; its token is refused afterwards (401)")


def main() -> int:
    started = time.monotonic()
    print(f"NPL Marketplace demo against {BASE_URL}", flush=True)
    try:
        admin = Client("admin").login()
        compliance = Client("compliance").login()
        foundation(admin, compliance)
    except (DemoError, OSError, KeyError) as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"\nDemo finished in {time.monotonic() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

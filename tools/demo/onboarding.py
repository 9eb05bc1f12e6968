"""Users and onboarding: a new buyer organisation, its review, and the audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from tools.demo.client import PASSWORD, Client, DemoError, show, step


def foundation(admin: Client, compliance: Client) -> None:
    """Steps 1-5: users, a new buyer's onboarding and review, the audit trail."""
    step("Platform admin and compliance officer log in")
    _, me = admin.request("GET", "/api/v1/me/")
    show(f"admin: {me['username']} ({me['role']}) of {me['organization']['name']}")
    _, me = compliance.request("GET", "/api/v1/me/")
    show(f"compliance: {me['username']} ({me['role']})")
    org, member = _onboard_buyer(admin)
    bidder = _review_buyer(compliance, org, member)

    step("Admin lists organisations")
    _, page = admin.request("GET", "/api/v1/organizations/?page_size=200")
    for item in page["results"]:
        extra = f", {item['eligibility']}" if item["kind"] == "buyer" else ""
        show(f"#{item['id']:<3} {item['name']:<32} {item['kind']}{extra}")
    show(f"{page['count']} organisations")

    _audit_trail(compliance, org)
    bidder.request("POST", "/api/v1/auth/logout/", {}, expect=204)
    bidder.request("GET", "/api/v1/me/", expect=401)
    show("bidder logs out; its token is refused afterwards (401)")


def _onboard_buyer(admin: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    step("Admin onboards a new buyer organisation (pending) with a bidder")
    suffix = uuid.uuid4().hex[:6]
    body = {
        "name": f"Xinghe Demo AMC {suffix}",
        "kind": "buyer",
        "licence_type": "local_amc",
        "registration_number": f"DEMO-{suffix}",
    }
    key = {"Idempotency-Key": f"demo-org-{suffix}"}
    _, org = admin.request("POST", "/api/v1/organizations/", body, headers=key)
    show(f"created organisation #{org['id']} {org['name']}: eligibility {org['eligibility']}")
    status, replay = admin.request("POST", "/api/v1/organizations/", body, headers=key)
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
    return org, member


def _review_buyer(compliance: Client, org: dict[str, Any], member: dict[str, Any]) -> Client:
    step("The new bidder cannot act for its organisation's review; compliance approves it")
    approve = f"/api/v1/organizations/{org['id']}/approve/"
    bidder = Client(member["username"]).login()
    status, problem = bidder.request("POST", approve, {}, expect=403)
    show(f"bidder tries to approve -> {status} {problem['code']}")
    _, approved = compliance.request("POST", approve, {"reason": "licence and KYC verified"})
    show(f"compliance approves -> eligibility {approved['eligibility']}")
    status, problem = compliance.request("POST", approve, {}, expect=409)
    show(f"approving again -> {status} {problem['code']}: {problem['detail']}")
    return bidder


def _audit_trail(compliance: Client, org: dict[str, Any]) -> None:
    step("Compliance reads the audit trail of the new buyer and verifies every chain")
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

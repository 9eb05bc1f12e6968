"""Management commands of accounts: ``bootstrap`` (first start) and ``seed_demo``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from marketplace.accounts.management.commands.seed_demo import DEMO_PASSWORD
from marketplace.accounts.models import Organization, User
from marketplace.audit.models import AuditEvent
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int]:
    return Organization.objects.count(), User.objects.count(), AuditEvent.objects.count()


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def token_for(username: str, password: str) -> APIClient:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_creates_the_platform_and_its_admin_who_can_log_in():
    output = run("bootstrap", username="root", password="first-start-pw")

    org = Organization.objects.get()
    user = User.objects.get()
    assert (org.kind, org.eligibility) == ("platform", "approved")
    assert (user.username, user.role, user.organization_id) == ("root", "platform_admin", org.pk)
    assert "created platform" in output
    assert list(
        AuditEvent.objects.filter(stream=f"organization:{org.pk}")
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == ["organization.created", "user.created"]
    me = token_for("root", "first-start-pw").get("/api/v1/me/").json()
    assert me["role"] == "platform_admin"
    assert me["organization"]["kind"] == "platform"


def test_bootstrap_again_changes_nothing():
    run("bootstrap", username="root", password="first-start-pw")
    before = counts()
    password_hash = User.objects.get(username="root").password

    output = run("bootstrap", username="root", password="another-password")
    run("bootstrap", username="intruder", password="another-password")

    assert counts() == before == (1, 1, 2)
    assert "nothing changed" in output
    assert User.objects.get(username="root").password == password_hash
    assert not User.objects.filter(username="intruder").exists()


def test_bootstrap_gives_an_existing_platform_without_admin_its_admin():
    platform = OrganizationFactory(kind="platform", name="Operator")

    run("bootstrap", username="root", password="first-start-pw")

    assert Organization.objects.filter(kind="platform").get().pk == platform.pk
    assert User.objects.get(username="root").organization_id == platform.pk


def test_bootstrap_refusal_creates_nothing():
    with pytest.raises(CommandError):
        run("bootstrap", username="root", password="")

    assert counts() == (0, 0, 0)


def test_bootstrap_requires_username_and_password():
    with pytest.raises(CommandError):
        run("bootstrap", username="root")

    assert counts() == (0, 0, 0)


# --------------------------------------------------------------------------- seed_demo


def test_seed_demo_creates_the_demo_world():
    output = run("seed_demo")

    buyers = dict(Organization.objects.filter(kind="buyer").values_list("name", "eligibility"))
    assert sorted(buyers.values()) == ["approved", "approved", "pending"]
    assert buyers["Xijiang Local AMC"] == "pending"
    assert Organization.objects.filter(kind="bank").count() == 2
    assert Organization.objects.filter(kind="platform").count() == 1
    assert set(User.objects.values_list("role", flat=True)) == {
        "platform_admin",
        "compliance_officer",
        "disposal_officer",
        "bidder",
    }
    assert DEMO_PASSWORD in output
    # The approvals went through the service, so they are audited with the compliance officer.
    approvals = AuditEvent.objects.filter(action="organization.approved")
    assert approvals.count() == 2
    assert set(approvals.values_list("actor_username", flat=True)) == {"compliance"}


def test_seed_demo_is_idempotent():
    run("seed_demo")
    before = counts()
    eligibility = sorted(Organization.objects.values_list("name", "eligibility"))

    run("seed_demo")

    assert counts() == before
    assert before[:2] == (6, 7)
    assert sorted(Organization.objects.values_list("name", "eligibility")) == eligibility


def test_seed_demo_after_bootstrap_keeps_the_bootstrapped_admin():
    run("bootstrap", username="root", password="first-start-pw")

    run("seed_demo")

    assert Organization.objects.filter(kind="platform").count() == 1
    assert User.objects.get(username="root").role == "platform_admin"
    assert User.objects.filter(username="compliance", role="compliance_officer").exists()


def test_seed_demo_users_can_log_in():
    run("seed_demo")

    me = token_for("tianheng_bidder", DEMO_PASSWORD).get("/api/v1/me/").json()

    assert me["role"] == "bidder"
    assert me["organization"]["eligibility"] == "approved"

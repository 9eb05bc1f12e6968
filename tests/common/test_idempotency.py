"""``Idempotency-Key`` on POST, over real HTTP handling (API.md, Conventions)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.accounts.models import Organization, User
from marketplace.audit.models import AuditEvent
from marketplace.common.idempotency import idempotency_purge_expired
from marketplace.common.models import IdempotencyKey
from tests.conftest import client_for
from tests.factories import OrganizationFactory, UserFactory
from tests.support import assert_problem

ORGS = "/api/v1/organizations/"
BODY = {"name": "Acme Bank", "kind": "bank"}
TIMEOUT = 20


def post(client, path, body, key, **extra):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def counts() -> tuple[int, int, int, int]:
    return (
        Organization.objects.count(),
        User.objects.count(),
        AuditEvent.objects.count(),
        IdempotencyKey.objects.count(),
    )


# --------------------------------------------------------------------------- replay


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_response_and_does_nothing_again(admin_client):
    first = post(admin_client, ORGS, BODY, "create-acme")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    after_first = counts()

    second = post(admin_client, ORGS, BODY, "create-acme")

    assert second.status_code == 201
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert second["Idempotent-Replayed"] == "true"
    assert counts() == after_first
    assert Organization.objects.filter(name="Acme Bank").count() == 1
    assert AuditEvent.objects.filter(action="organization.created").count() == 1


@pytest.mark.django_db
def test_replay_is_byte_identical_even_after_the_object_changed(admin_client, compliance_client):
    first = post(
        admin_client, ORGS, {"name": "Acme AMC", "kind": "buyer", "licence_type": "local_amc"}, "k"
    )
    org_id = first.json()["id"]
    approved = compliance_client.post(f"{ORGS}{org_id}/approve/", {}, format="json")
    assert approved.json()["eligibility"] == "approved"

    again = post(
        admin_client, ORGS, {"name": "Acme AMC", "kind": "buyer", "licence_type": "local_amc"}, "k"
    )

    assert again.status_code == 201
    assert again.content == first.content
    assert again.json()["eligibility"] == "pending"  # the first answer, not today's state


@pytest.mark.django_db
def test_without_a_key_a_repeat_runs_again(admin_client):
    assert admin_client.post(ORGS, BODY, format="json").status_code == 201

    repeat = admin_client.post(ORGS, BODY, format="json")

    assert_problem(repeat, 400, "validation_error")
    assert "Idempotent-Replayed" not in repeat
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
def test_member_creation_is_replayed(admin_client, bank_org):
    path = f"{ORGS}{bank_org.pk}/members/"
    body = {"username": "officer1", "password": "a-long-password", "role": "disposal_officer"}
    first = post(admin_client, path, body, "member-1")
    assert first.status_code == 201
    before = counts()

    second = post(admin_client, path, body, "member-1")

    assert (second.status_code, second.content) == (201, first.content)
    assert second["Idempotent-Replayed"] == "true"
    assert counts() == before
    assert User.objects.filter(username="officer1").count() == 1


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_422(admin_client):
    first = post(admin_client, ORGS, BODY, "k1")
    assert first.status_code == 201
    before = counts()

    reused = post(admin_client, ORGS, {"name": "Other Bank", "kind": "bank"}, "k1")

    assert_problem(reused, 422, "idempotency_key_reused")
    assert counts() == before
    assert not Organization.objects.filter(name="Other Bank").exists()
    # The original request still replays.
    assert post(admin_client, ORGS, BODY, "k1").content == first.content


@pytest.mark.django_db
def test_same_key_and_body_on_another_path_is_422(admin_client, bank_org):
    other_bank = OrganizationFactory(kind="bank")
    body = {"username": "u1", "password": "a-long-password", "role": "disposal_officer"}
    assert post(admin_client, f"{ORGS}{bank_org.pk}/members/", body, "k2").status_code == 201
    before = counts()

    reused = post(admin_client, f"{ORGS}{other_bank.pk}/members/", body, "k2")

    assert_problem(reused, 422, "idempotency_key_reused")
    assert counts() == before
    assert not other_bank.members.exists()


@pytest.mark.django_db
def test_same_key_with_the_same_json_in_another_content_type_is_422(admin_client):
    post(admin_client, ORGS, BODY, "k3")

    reused = admin_client.post(
        ORGS, {"name": "Acme Bank", "kind": "bank"}, format="multipart", HTTP_IDEMPOTENCY_KEY="k3"
    )

    assert_problem(reused, 422, "idempotency_key_reused")


# --------------------------------------------------------------------------- key rules


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["x" * 256, "x" * 1000, ""])
def test_key_of_bad_length_is_400(admin_client, key):
    before = counts()

    response = post(admin_client, ORGS, BODY, key)

    assert_problem(response, 400, "validation_error")
    assert "Idempotency-Key" in response.json()["errors"]
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["x", "x" * 255, "4f1c6b7e-2a1d-4a4f-9c55-0e0c3e4e7d21"])
def test_key_of_1_to_255_characters_is_accepted(admin_client, key):
    response = post(admin_client, ORGS, BODY, key)

    assert response.status_code == 201
    assert IdempotencyKey.objects.filter(key=key).count() == 1
    assert post(admin_client, ORGS, BODY, key)["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_keys_are_scoped_per_organisation(admin_client, admin_user):
    other_platform = OrganizationFactory(kind="platform", name="Second Platform")
    other_admin = UserFactory(organization=other_platform, role="platform_admin")
    other_client = client_for(other_admin)

    mine = post(admin_client, ORGS, BODY, "shared-key")
    theirs = post(other_client, ORGS, {"name": "Beta Bank", "kind": "bank"}, "shared-key")

    assert mine.status_code == 201
    assert theirs.status_code == 201, theirs.content  # not 422: another organisation's key
    assert "Idempotent-Replayed" not in theirs
    assert Organization.objects.filter(name__in=["Acme Bank", "Beta Bank"]).count() == 2
    assert set(IdempotencyKey.objects.values_list("organization_id", flat=True)) == {
        admin_user.organization_id,
        other_platform.pk,
    }
    # Each organisation replays its own first response.
    assert post(admin_client, ORGS, BODY, "shared-key").content == mine.content
    replay = post(other_client, ORGS, {"name": "Beta Bank", "kind": "bank"}, "shared-key")
    assert replay.content == theirs.content


@pytest.mark.django_db
def test_users_of_one_organisation_share_its_keys(admin_client, compliance_client):
    first = post(admin_client, ORGS, BODY, "team-key")

    from_colleague = post(compliance_client, ORGS, BODY, "team-key")

    assert from_colleague.status_code == 201
    assert from_colleague.content == first.content
    assert from_colleague["Idempotent-Replayed"] == "true"
    assert Organization.objects.filter(name="Acme Bank").count() == 1


@pytest.mark.django_db
def test_a_colleague_whose_role_may_not_make_the_request_gets_403_not_the_replay(
    admin_client, compliance_client, bank_org
):
    """Issue 11, item 10: the key is the organisation's, but a compliance officer replaying the
    admin's member creation read back the new user (members are platform_admin only)."""
    path = f"{ORGS}{bank_org.pk}/members/"
    body = {"username": "officer1", "password": "a-long-password", "role": "disposal_officer"}
    first = post(admin_client, path, body, "member-1")
    assert first.status_code == 201
    before = counts()

    replay = post(compliance_client, path, body, "member-1")

    assert_problem(replay, 403, "permission_denied")
    assert "Idempotent-Replayed" not in replay
    assert b"officer1" not in replay.content
    assert counts() == before
    # The author still gets its replay.
    assert post(admin_client, path, body, "member-1").content == first.content


@pytest.mark.django_db
def test_a_replay_checks_role_rules_a_service_used_to_hold(compliance_client, auction_open):
    """Cancelling is for the seller and compliance: a platform admin may not read back a
    compliance officer's cancellation through its key."""
    path = f"/api/v1/auctions/{auction_open.pk}/cancel/"
    assert post(compliance_client, path, {}, "cancel-1").status_code == 200
    admin = client_for(
        UserFactory(organization=compliance_client.user.organization, role="platform_admin")
    )

    assert_problem(post(admin, path, {}, "cancel-1"), 403, "permission_denied")


# --------------------------------------------------------------------------- errors


@pytest.mark.django_db
def test_a_4xx_first_response_is_replayed(compliance_client):
    buyer = OrganizationFactory(kind="buyer", eligibility="approved")
    approve = f"{ORGS}{buyer.pk}/approve/"
    first = post(compliance_client, approve, {}, "approve-1")
    assert_problem(first, 409, "invalid_state")
    # The state changes so that running the request now would succeed ...
    suspended = compliance_client.post(f"{ORGS}{buyer.pk}/suspend/", {}, format="json")
    assert suspended.json()["eligibility"] == "suspended"
    before = counts()

    again = post(compliance_client, approve, {}, "approve-1")

    # ... but the key gets the first answer, and nothing runs.
    assert again.status_code == 409
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/problem+json"
    assert counts() == before
    buyer.refresh_from_db()
    assert buyer.eligibility == "suspended"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fixture", "body", "status"),
    [("admin_client", {"name": "", "kind": "bank"}, 400), ("seller_client", BODY, 403)],
)
def test_validation_and_permission_errors_are_replayed(request, fixture, body, status):
    client = request.getfixturevalue(fixture)
    first = post(client, ORGS, body, "bad-1")
    assert first.status_code == status

    again = post(client, ORGS, body, "bad-1")

    assert (again.status_code, again.content) == (status, first.content)
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_an_anonymous_post_with_a_key_is_401_and_stores_nothing(api):
    response = post(api, ORGS, BODY, "anon")

    assert_problem(response, 401, "not_authenticated")
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
def test_a_5xx_is_rolled_back_and_not_stored(admin_client, admin_user):
    from marketplace.accounts import services

    real_create = services.organization_create

    def create_then_crash(**kwargs):
        real_create(**kwargs)
        raise RuntimeError("crash after the write")

    client = APIClient(raise_request_exception=False)
    client.credentials(**admin_client._credentials)
    before = counts()
    with mock.patch.object(services, "organization_create", side_effect=create_then_crash):
        crashed = post(client, ORGS, BODY, "crash-1")

    assert crashed.status_code == 500
    assert counts() == before  # the organisation, its audit event and the key rolled back
    retry = post(client, ORGS, BODY, "crash-1")
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert Organization.objects.filter(name="Acme Bank").count() == 1


@pytest.mark.django_db
def test_an_expired_key_runs_again_and_purge_removes_old_keys(admin_client, settings):
    post(admin_client, ORGS, BODY, "old")
    ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS
    assert ttl >= 24  # API.md: keys are kept at least 24 h
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=ttl, minutes=1)
    )

    fresh = post(admin_client, ORGS, {"name": "New Bank", "kind": "bank"}, "old")

    assert fresh.status_code == 201  # not 422: the old key expired
    assert IdempotencyKey.objects.filter(key="old").count() == 1
    post(admin_client, ORGS, {"name": "Kept Bank", "kind": "bank"}, "recent")
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=ttl, minutes=1)
    )
    assert idempotency_purge_expired() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]


@pytest.mark.django_db
def test_a_key_younger_than_24_hours_is_still_honoured(admin_client):
    first = post(admin_client, ORGS, BODY, "day-old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))

    again = post(admin_client, ORGS, BODY, "day-old")

    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert idempotency_purge_expired() == 0


# --------------------------------------------------------------------------- concurrency


def clone(client: APIClient) -> APIClient:
    """A new client with the same token (one per thread)."""
    fresh = APIClient()
    fresh.credentials(**client._credentials)
    return fresh


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_key_execute_exactly_once(admin_client):
    workers = 20
    barrier = threading.Barrier(workers)
    responses: list = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send() -> None:
        client = clone(admin_client)
        try:
            barrier.wait(TIMEOUT)
            response = post(client, ORGS, BODY, "race-key")
            with lock:
                responses.append(response)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)

    assert errors == []
    assert len(responses) == workers
    created = [r for r in responses if r.status_code == 201]
    in_flight = [r for r in responses if r.status_code == 409]
    assert len(created) >= 1
    assert len(created) + len(in_flight) == workers, [r.status_code for r in responses]
    assert len({r.content for r in created}) == 1
    for response in in_flight:
        assert_problem(response, 409, "idempotency_key_in_flight")
    assert Organization.objects.filter(name="Acme Bank").count() == 1
    assert AuditEvent.objects.filter(action="organization.created").count() == 1
    assert IdempotencyKey.objects.filter(key="race-key").count() == 1
    org_id = Organization.objects.get(name="Acme Bank").pk
    assert json.loads(created[0].content)["id"] == org_id


@pytest.mark.django_db(transaction=True)
def test_a_request_whose_key_is_in_flight_gets_409(admin_client, admin_user):
    key = "held-key"
    held = threading.Event()
    release = threading.Event()
    outcome: dict = {}

    def hold_the_key() -> None:
        # Exactly what the middleware does while a first request with this key is running.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"idempotency:{admin_user.organization_id}:{key}"],
                )
                outcome["locked"] = cursor.fetchone()[0]
                held.set()
                release.wait(TIMEOUT)
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc
        finally:
            held.set()
            connection.close()

    holder = threading.Thread(target=hold_the_key, daemon=True)
    holder.start()
    try:
        assert held.wait(TIMEOUT)
        assert outcome.get("locked") is True, outcome
        before = counts()

        response = post(admin_client, ORGS, BODY, key)

        assert_problem(response, 409, "idempotency_key_in_flight")
        assert counts() == before
        # Another key of the same organisation is not blocked.
        other = post(admin_client, ORGS, {"name": "Free Bank", "kind": "bank"}, "other-key")
        assert other.status_code == 201
    finally:
        release.set()
        holder.join(TIMEOUT)

    # Once the first request is over, the key can be used.
    after = post(admin_client, ORGS, BODY, key)
    assert after.status_code == 201
    assert "Idempotent-Replayed" not in after


@pytest.mark.django_db(transaction=True)
def test_a_slow_first_request_makes_a_concurrent_repeat_409_then_replays(admin_client):
    """The in-flight answer, end to end: the first request holds its key while its view runs."""
    from marketplace.accounts import services

    real_create = services.organization_create
    entered = threading.Event()
    release = threading.Event()
    first: dict = {}

    def slow_create(**kwargs):
        entered.set()
        release.wait(TIMEOUT)
        return real_create(**kwargs)

    def send_first() -> None:
        try:
            first["response"] = post(clone(admin_client), ORGS, BODY, "slow-key")
        finally:
            connection.close()

    with mock.patch.object(services, "organization_create", side_effect=slow_create):
        thread = threading.Thread(target=send_first, daemon=True)
        thread.start()
        try:
            assert entered.wait(TIMEOUT)
            repeat = post(admin_client, ORGS, BODY, "slow-key")
            assert_problem(repeat, 409, "idempotency_key_in_flight")
        finally:
            release.set()
            thread.join(TIMEOUT)

    assert first["response"].status_code == 201
    replay = post(admin_client, ORGS, BODY, "slow-key")
    assert replay.content == first["response"].content
    assert replay["Idempotent-Replayed"] == "true"
    assert Organization.objects.filter(name="Acme Bank").count() == 1

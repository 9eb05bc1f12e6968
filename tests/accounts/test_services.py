"""Services of marketplace.accounts against the real PostgreSQL: organisations, eligibility,
members, tokens and the bootstrap. Each write must leave its audit event, and each refusal must
leave the database (and the audit log) as it was."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken

from marketplace.accounts import selectors, services
from marketplace.accounts.models import Organization, User
from marketplace.audit.models import AuditEvent
from marketplace.audit.services import GENESIS_HASH, hash_of
from marketplace.common.errors import InvalidState, ValidationFailed
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


SERVICES = {
    "approve": services.organization_approve,
    "reject": services.organization_reject,
    "suspend": services.organization_suspend,
}

# API.md: pending -> approved | rejected; approved -> suspended -> approved. Nothing else.
# (start, transition, end or None when the transition is refused with invalid_state)
ELIGIBILITY_TABLE = [
    ("pending", "approve", "approved"),
    ("pending", "reject", "rejected"),
    ("pending", "suspend", None),
    ("approved", "approve", None),
    ("approved", "reject", None),
    ("approved", "suspend", "suspended"),
    ("suspended", "approve", "approved"),
    ("suspended", "reject", None),
    ("suspended", "suspend", None),
    ("rejected", "approve", None),
    ("rejected", "reject", None),
    ("rejected", "suspend", None),
]


def events_of(org: Organization) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(stream=f"organization:{org.pk}").order_by("sequence"))


# --------------------------------------------------------------------------- organisations


@pytest.mark.parametrize(
    ("kind", "licence_type", "eligibility"),
    [
        ("buyer", "local_amc", "pending"),
        ("bank", "", "approved"),
        ("platform", "", "approved"),
    ],
)
def test_organization_create_sets_eligibility_by_kind_and_audits(
    admin_user, kind, licence_type, eligibility
):
    org = services.organization_create(
        actor=admin_user,
        name="  Acme Capital  ",
        kind=kind,
        licence_type=licence_type,
        registration_number="REG-1",
    )

    org.refresh_from_db()
    assert org.name == "Acme Capital"
    assert org.eligibility == eligibility
    assert org.licence_type == licence_type
    [event] = events_of(org)
    assert event.action == "organization.created"
    assert event.sequence == 1
    assert event.prev_hash == GENESIS_HASH
    assert event.actor_user_id == admin_user.pk
    assert event.actor_organization_id == admin_user.organization_id
    assert event.data["kind"] == kind
    assert event.data["eligibility"] == eligibility


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"name": "Buyer", "kind": "buyer", "licence_type": ""}, "licence_type"),
        ({"name": "Bank", "kind": "bank", "licence_type": "national_amc"}, "licence_type"),
        ({"name": "Thing", "kind": "insurer", "licence_type": ""}, "kind"),
        ({"name": "   ", "kind": "bank", "licence_type": ""}, "name"),
    ],
    ids=["buyer-without-licence", "bank-with-licence", "unknown-kind", "blank-name"],
)
def test_organization_create_refuses_invalid_input_and_writes_nothing(
    admin_user, fields, error_field
):
    orgs_before = Organization.objects.count()
    events_before = AuditEvent.objects.count()

    with pytest.raises(ValidationFailed) as excinfo:
        services.organization_create(actor=admin_user, **fields)

    assert excinfo.value.code == "validation_error"
    assert error_field in excinfo.value.errors
    assert Organization.objects.count() == orgs_before
    assert AuditEvent.objects.count() == events_before


def test_organization_create_refuses_a_duplicate_name(admin_user):
    services.organization_create(actor=admin_user, name="Hanil Bank", kind="bank")
    events_before = AuditEvent.objects.count()

    with pytest.raises(ValidationFailed) as excinfo:
        services.organization_create(actor=admin_user, name=" Hanil Bank ", kind="bank")

    assert excinfo.value.errors == {"name": ["An organisation with this name exists."]}
    assert Organization.objects.filter(name="Hanil Bank").count() == 1
    assert AuditEvent.objects.count() == events_before


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_one_organisation_name_is_refused_not_crashed(monkeypatch):
    """The first request is held after its insert, before it commits; the second inserts the
    same name, waits on the unique index, and must then be refused as a duplicate."""
    inserted, release = threading.Event(), threading.Event()
    original = services.record

    def record(**kwargs):
        if threading.current_thread().name == "first":
            inserted.set()
            release.wait(timeout=10)
        return original(**kwargs)

    monkeypatch.setattr(services, "record", record)
    outcomes: dict[str, object] = {}

    def create() -> None:
        try:
            outcomes[threading.current_thread().name] = services.organization_create(
                actor=None, name="Twin Bank", kind="bank"
            )
        except Exception as exc:  # the outcome, success or refusal, is what the test asserts
            outcomes[threading.current_thread().name] = exc
        finally:
            connection.close()

    first = threading.Thread(target=create, name="first")
    second = threading.Thread(target=create, name="second")
    first.start()
    assert inserted.wait(timeout=10)
    second.start()
    second.join(timeout=1)
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert isinstance(outcomes["first"], Organization)
    assert isinstance(outcomes["second"], ValidationFailed), outcomes["second"]
    assert list(outcomes["second"].errors) == ["name"]
    assert Organization.objects.filter(name="Twin Bank").count() == 1
    assert AuditEvent.objects.filter(action="organization.created").count() == 1


# --------------------------------------------------------------------------- eligibility


@pytest.mark.parametrize(("start", "transition", "end"), ELIGIBILITY_TABLE)
def test_eligibility_transitions_follow_the_table(compliance_user, start, transition, end):
    org = OrganizationFactory(kind="buyer", eligibility=start)
    service = SERVICES[transition]

    if end is None:
        with pytest.raises(InvalidState) as excinfo:
            service(actor=compliance_user, organization_id=org.pk, reason="r")
        assert excinfo.value.code == "invalid_state"
        assert excinfo.value.status_code == 409
        assert excinfo.value.extra == {"current_status": start}
        org.refresh_from_db()
        assert org.eligibility == start
        assert org.eligibility_reason == ""
        assert events_of(org) == []
    else:
        returned = service(actor=compliance_user, organization_id=org.pk, reason="checked")
        org.refresh_from_db()
        assert returned.eligibility == org.eligibility == end
        assert org.eligibility_reason == "checked"
        [event] = events_of(org)
        assert event.action == f"organization.{end}"
        assert event.object_type == "organization"
        assert event.object_id == str(org.pk)
        assert event.data == {"from": start, "to": end, "reason": "checked"}
        assert event.actor_user_id == compliance_user.pk
        assert event.actor_username == "compliance"
        assert event.actor_organization_id == compliance_user.organization_id


@pytest.mark.parametrize("kind", ["bank", "platform"])
@pytest.mark.parametrize("transition", ["approve", "reject", "suspend"])
def test_eligibility_transitions_refuse_non_buyers(compliance_user, kind, transition):
    org = OrganizationFactory(kind=kind, eligibility="pending")

    with pytest.raises(InvalidState):
        SERVICES[transition](actor=compliance_user, organization_id=org.pk)

    org.refresh_from_db()
    assert org.eligibility == "pending"
    assert events_of(org) == []


def test_full_eligibility_cycle_is_one_hash_chained_stream(admin_user, compliance_user):
    org = services.organization_create(
        actor=admin_user, name="Cycle AMC", kind="buyer", licence_type="national_amc"
    )

    services.organization_approve(actor=compliance_user, organization_id=org.pk)
    services.organization_suspend(actor=compliance_user, organization_id=org.pk, reason="audit")
    services.organization_approve(actor=compliance_user, organization_id=org.pk)

    events = events_of(org)
    assert [e.action for e in events] == [
        "organization.created",
        "organization.approved",
        "organization.suspended",
        "organization.approved",
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    assert [e.prev_hash for e in events] == [GENESIS_HASH, *(e.hash for e in events[:-1])]
    assert all(e.hash == hash_of(e) for e in events)
    org.refresh_from_db()
    assert org.eligibility == "approved"


# --------------------------------------------------------------------------- members

# (organisation kind, role, allowed)
ROLE_TABLE = [
    ("bank", "disposal_officer", True),
    ("bank", "bidder", False),
    ("bank", "compliance_officer", False),
    ("bank", "platform_admin", False),
    ("buyer", "bidder", True),
    ("buyer", "disposal_officer", False),
    ("buyer", "compliance_officer", False),
    ("buyer", "platform_admin", False),
    ("platform", "compliance_officer", True),
    ("platform", "platform_admin", True),
    ("platform", "disposal_officer", False),
    ("platform", "bidder", False),
]


@pytest.mark.parametrize(("kind", "role", "allowed"), ROLE_TABLE)
def test_member_create_role_must_fit_the_organisation_kind(admin_user, kind, role, allowed):
    org = OrganizationFactory(kind=kind)
    users_before = User.objects.count()

    if allowed:
        user = services.member_create(
            actor=admin_user,
            organization_id=org.pk,
            username="newcomer",
            password="long-enough-pw",
            role=role,
        )
        assert user.organization_id == org.pk
        assert user.role == role
        assert User.objects.count() == users_before + 1
    else:
        with pytest.raises(ValidationFailed) as excinfo:
            services.member_create(
                actor=admin_user,
                organization_id=org.pk,
                username="newcomer",
                password="long-enough-pw",
                role=role,
            )
        assert list(excinfo.value.errors) == ["role"]
        assert User.objects.count() == users_before
        assert events_of(org) == []


def test_member_create_hashes_the_password_and_audits(admin_user, bank_org):
    user = services.member_create(
        actor=admin_user,
        organization_id=bank_org.pk,
        username="officer",
        password="s3cret-passphrase",
        role="disposal_officer",
    )

    user.refresh_from_db()
    assert user.password != "s3cret-passphrase"
    assert "s3cret-passphrase" not in user.password
    assert user.check_password("s3cret-passphrase")
    [event] = events_of(bank_org)
    assert event.action == "user.created"
    assert event.data == {"user_id": user.pk, "username": "officer", "role": "disposal_officer"}
    assert event.actor_user_id == admin_user.pk
    assert "s3cret-passphrase" not in str(event.data)


@pytest.mark.parametrize(
    ("username", "password", "error_field"),
    [
        ("SELLER_ONE", "long-enough-pw", "username"),  # case-insensitive duplicate
        ("   ", "long-enough-pw", "username"),
        ("fresh", "short", "password"),
        ("fresh", "", "password"),
    ],
    ids=["duplicate-username", "blank-username", "short-password", "blank-password"],
)
def test_member_create_refuses_bad_credentials(
    admin_user, bank_org, username, password, error_field
):
    UserFactory(organization=bank_org, username="seller_one")
    users_before = User.objects.count()

    with pytest.raises(ValidationFailed) as excinfo:
        services.member_create(
            actor=admin_user,
            organization_id=bank_org.pk,
            username=username,
            password=password,
            role="disposal_officer",
        )

    assert error_field in excinfo.value.errors
    assert User.objects.count() == users_before
    assert events_of(bank_org) == []


@pytest.mark.parametrize(
    ("username", "password"),
    [("root", "12345678"), ("root", "password"), ("rootadmin", "rootadmin"), ("root", "x")],
    ids=["numeric", "common", "same-as-username", "short"],
)
def test_member_create_refuses_weak_passwords_even_for_the_bootstrap(
    platform_org, username, password
):
    """Issue 11, item 10 (changes an earlier test, which let the bootstrap skip the check):
    Django's validators (similarity, length, common, numeric) hold for every user."""
    with pytest.raises(ValidationFailed) as excinfo:
        services.platform_bootstrap(username=username, password=password)

    assert set(excinfo.value.errors) == {"password"}
    assert not User.objects.filter(username=username).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_username", ["racer", "RACER"])
def test_concurrent_member_creation_cannot_duplicate_a_username(monkeypatch, second_username):
    """Two platform admins add the same username to two organisations at once (so the
    organisation row locks do not serialise them). The first request is held after its
    duplicate check, before its insert; the second must neither slip past the check nor fail
    on the unique index: it waits, then is refused like any duplicate."""
    bank, buyer = OrganizationFactory(kind="bank"), OrganizationFactory(kind="buyer")
    first_checked, release = threading.Event(), threading.Event()
    original = services.validate_password

    def validate_password(password, user=None):
        if user.username == "racer":
            first_checked.set()
            release.wait(timeout=10)
        return original(password, user=user)

    monkeypatch.setattr(services, "validate_password", validate_password)
    outcomes: dict[str, object] = {}

    def create(name: str, org: Organization, username: str, role: str) -> None:
        try:
            outcomes[name] = services.member_create(
                actor=None,
                organization_id=org.pk,
                username=username,
                password="long-enough-pw",
                role=role,
            )
        except Exception as exc:  # the outcome, success or refusal, is what the test asserts
            outcomes[name] = exc
        finally:
            connection.close()

    first = threading.Thread(target=create, args=("first", bank, "racer", "disposal_officer"))
    second = threading.Thread(target=create, args=("second", buyer, second_username, "bidder"))
    first.start()
    assert first_checked.wait(timeout=10)
    second.start()
    second.join(timeout=1)  # without serialisation, the second finishes (or fails) meanwhile
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert isinstance(outcomes["first"], User)
    assert isinstance(outcomes["second"], ValidationFailed), outcomes["second"]
    assert list(outcomes["second"].errors) == ["username"]
    assert User.objects.filter(username__iexact="racer").count() == 1


# --------------------------------------------------------------------------- tokens


def test_token_issue_stores_only_a_hash_and_expires(bidder_user):
    before = timezone.now()

    token, secret = services.token_issue(user=bidder_user)

    row = AuthToken.objects.get(pk=token.pk)
    stored = [str(value) for value in AuthToken.objects.filter(pk=token.pk).values().get().values()]
    assert len(secret) == 64
    assert all(secret not in value for value in stored)
    assert row.digest == hash_token(secret)
    # Only a short lookup prefix of the secret is kept, as knox does.
    assert secret.startswith(row.token_key)
    assert len(row.token_key) < len(secret) // 2
    assert before + timedelta(hours=11) < row.expiry <= timezone.now() + timedelta(hours=12)
    [event] = AuditEvent.objects.filter(stream=f"user:{bidder_user.pk}", action="token.issued")
    assert secret not in str(event.data)
    assert event.data["token_key"] == row.token_key


def test_token_revoke_deletes_the_row_and_audits(bidder_user):
    token, _ = services.token_issue(user=bidder_user)
    other, _ = services.token_issue(user=bidder_user)

    services.token_revoke(user=bidder_user, token=token)

    assert not AuthToken.objects.filter(pk=token.pk).exists()
    assert AuthToken.objects.filter(pk=other.pk).exists()
    actions = list(
        AuditEvent.objects.filter(stream=f"user:{bidder_user.pk}")
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert actions == ["token.issued", "token.issued", "token.revoked"]


# --------------------------------------------------------------------------- bootstrap, selectors


def test_platform_bootstrap_is_idempotent(db):
    org, user, created = services.platform_bootstrap(username="root", password="first-start-pw")
    counts = (Organization.objects.count(), User.objects.count(), AuditEvent.objects.count())

    again_org, again_user, again_created = services.platform_bootstrap(
        username="someone-else", password="other"
    )

    assert created is True
    assert again_created is False
    assert (org.kind, user.role, user.organization_id) == ("platform", "platform_admin", org.pk)
    assert (again_org.pk, again_user.pk) == (org.pk, user.pk)
    assert counts == (1, 1, 2)  # organization.created + user.created
    assert (
        Organization.objects.count(),
        User.objects.count(),
        AuditEvent.objects.count(),
    ) == counts
    assert not User.objects.filter(username="someone-else").exists()


def test_platform_bootstrap_adds_an_admin_to_an_existing_platform_without_one(platform_org):
    OrganizationFactory(kind="bank")

    org, user, created = services.platform_bootstrap(username="root", password="first-start-pw")

    assert created is True
    assert org.pk == platform_org.pk
    assert Organization.objects.filter(kind="platform").count() == 1
    assert user.role == "platform_admin"


@pytest.mark.parametrize("role", ["platform_admin", "compliance_officer"])
def test_platform_users_see_every_organisation(platform_org, bank_org, buyer_org, role):
    user = UserFactory(organization=platform_org, role=role)

    visible = set(selectors.organization_visible_to(user=user).values_list("pk", flat=True))

    assert visible == {platform_org.pk, bank_org.pk, buyer_org.pk}


@pytest.mark.parametrize("who", ["seller_user", "bidder_user"])
def test_other_users_see_only_their_own_organisation(
    request, platform_org, bank_org, buyer_org, who
):
    user = request.getfixturevalue(who)

    visible = list(selectors.organization_visible_to(user=user).values_list("pk", flat=True))

    assert visible == [user.organization_id]

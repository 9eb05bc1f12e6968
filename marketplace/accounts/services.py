"""Every write on organisations, users and tokens; each audits in its own transaction."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from knox.models import AuthToken

from marketplace.accounts.codes import AuditAction
from marketplace.accounts.models import (
    ELIGIBILITY_TRANSITIONS,
    ROLES_BY_KIND,
    Eligibility,
    Organization,
    OrganizationKind,
    User,
)
from marketplace.audit.services import record
from marketplace.common.errors import InvalidState, ValidationFailed
from marketplace.common.locks import advisory_xact_lock

# The audit action of each eligibility transition (ELIGIBILITY_TRANSITIONS).
_TRANSITION_ACTIONS: dict[str, AuditAction] = {
    "approve": AuditAction.ORGANIZATION_APPROVED,
    "reject": AuditAction.ORGANIZATION_REJECTED,
    "suspend": AuditAction.ORGANIZATION_SUSPENDED,
}


def _org_snapshot(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "kind": org.kind,
        "licence_type": org.licence_type,
        "registration_number": org.registration_number,
        "eligibility": org.eligibility,
    }


def organization_create(
    *,
    actor: User | None,
    name: str,
    kind: str,
    licence_type: str = "",
    registration_number: str = "",
) -> Organization:
    """Create an organisation. Buyers start ``pending`` and need a licence type; banks and the
    platform are approved on creation (eligibility review is for buyers only)."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["This field may not be blank."]
    if kind not in OrganizationKind.values:
        errors["kind"] = [f"Must be one of: {', '.join(OrganizationKind.values)}."]
    if kind == OrganizationKind.BUYER and not licence_type:
        errors["licence_type"] = ["Buyer organisations need a licence type."]
    if kind != OrganizationKind.BUYER and licence_type:
        errors["licence_type"] = ["Only buyer organisations have a licence type."]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    eligibility = Eligibility.PENDING if kind == OrganizationKind.BUYER else Eligibility.APPROVED
    try:
        with transaction.atomic():
            org = Organization.objects.create(
                name=name,
                kind=kind,
                licence_type=licence_type or "",
                registration_number=registration_number or "",
                eligibility=eligibility,
            )
            record(
                action=AuditAction.ORGANIZATION_CREATED,
                object_type="organization",
                object_id=org.pk,
                actor=actor,
                data=_org_snapshot(org),
            )
    except IntegrityError as exc:
        if Organization.objects.filter(name=name).exists():
            raise ValidationFailed(
                "An organisation with this name exists.",
                errors={"name": ["An organisation with this name exists."]},
            ) from exc
        raise
    return org


def _organization_transition(
    *, actor: User, organization_id: int, transition: str, reason: str = ""
) -> Organization:
    rule = ELIGIBILITY_TRANSITIONS[transition]
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization_id)
        if org.kind != OrganizationKind.BUYER:
            raise InvalidState("Only buyer organisations have an eligibility to review.")
        if org.eligibility not in rule["from"]:
            raise InvalidState(
                f"Cannot {transition} an organisation whose eligibility is {org.eligibility}.",
                extra={"current_status": org.eligibility},
            )
        previous = org.eligibility
        org.eligibility = rule["to"]
        org.eligibility_reason = reason or ""
        org.save(update_fields=["eligibility", "eligibility_reason", "updated_at"])
        record(
            action=_TRANSITION_ACTIONS[transition],
            object_type="organization",
            object_id=org.pk,
            actor=actor,
            data={"from": previous, "to": org.eligibility, "reason": reason or ""},
        )
    return org


def organization_approve(*, actor: User, organization_id: int, reason: str = "") -> Organization:
    """pending | suspended -> approved. Locks the organisation row."""
    return _organization_transition(
        actor=actor, organization_id=organization_id, transition="approve", reason=reason
    )


def organization_reject(*, actor: User, organization_id: int, reason: str = "") -> Organization:
    """pending -> rejected. Locks the organisation row."""
    return _organization_transition(
        actor=actor, organization_id=organization_id, transition="reject", reason=reason
    )


def organization_suspend(*, actor: User, organization_id: int, reason: str = "") -> Organization:
    """approved -> suspended. Locks the organisation row."""
    return _organization_transition(
        actor=actor, organization_id=organization_id, transition="suspend", reason=reason
    )


def member_create(
    *,
    actor: User | None,
    organization_id: int,
    username: str,
    password: str,
    role: str,
) -> User:
    """Create a user in an organisation, with a role its kind allows and a password that passes
    ``AUTH_PASSWORD_VALIDATORS`` (the operator's bootstrap included)."""
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization_id)
        errors: dict[str, list[str]] = {}
        username = (username or "").strip()
        # Usernames are unique whatever their case, which no index enforces, and the check below
        # runs before the insert: serialise creations of one (lower-cased) username so that two
        # requests cannot both pass the check (nor the second die on the unique index).
        advisory_xact_lock(f"username:{username.lower()}")
        if not username:
            errors["username"] = ["This field may not be blank."]
        elif User.objects.filter(username__iexact=username).exists():
            errors["username"] = ["A user with this username exists."]
        allowed = ROLES_BY_KIND.get(org.kind, set())
        if role not in allowed:
            errors["role"] = [
                f"A {org.kind} organisation's users may have role: {', '.join(sorted(allowed))}."
            ]
        candidate = User(username=username, organization=org, role=role)
        if not password:
            errors["password"] = ["This field may not be blank."]
        else:
            try:
                validate_password(password, user=candidate)
            except DjangoValidationError as exc:
                errors["password"] = list(exc.messages)
        if errors:
            raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
        candidate.set_password(password)
        candidate.save()
        record(
            action=AuditAction.USER_CREATED,
            object_type="organization",
            object_id=org.pk,
            actor=actor,
            data={"user_id": candidate.pk, "username": candidate.username, "role": role},
        )
    return candidate


def token_issue(*, user: User) -> tuple[AuthToken, str]:
    """Issue an API token (stored hashed, expiring); returns the instance and the secret."""
    with transaction.atomic():
        instance, secret = AuthToken.objects.create(user=user)
        record(
            action=AuditAction.TOKEN_ISSUED,
            object_type="user",
            object_id=user.pk,
            actor=user,
            data={"token_key": instance.token_key, "expires_at": instance.expiry},
        )
    return instance, secret


def token_revoke(*, user: User, token: AuthToken) -> None:
    """Revoke the token used for this request."""
    with transaction.atomic():
        key = token.token_key
        token.delete()
        record(
            action=AuditAction.TOKEN_REVOKED,
            object_type="user",
            object_id=user.pk,
            actor=user,
            data={"token_key": key},
        )


def platform_bootstrap(*, username: str, password: str) -> tuple[Organization, User, bool]:
    """Create the platform organisation and its first platform_admin, once.

    Idempotent: if a platform organisation exists, nothing changes. Returns (org, user, created).
    """
    with transaction.atomic():
        # Serialise concurrent bootstraps on a fixed advisory lock.
        advisory_xact_lock("bootstrap")
        org = Organization.objects.filter(kind=OrganizationKind.PLATFORM).order_by("pk").first()
        if org is not None:
            user = org.members.filter(role="platform_admin").order_by("pk").first()
            if user is not None:
                return org, user, False
        else:
            org = organization_create(actor=None, name="NPL Marketplace", kind="platform")
        user = member_create(
            actor=None,
            organization_id=org.pk,
            username=username,
            password=password,
            role="platform_admin",
        )
    return org, user, True

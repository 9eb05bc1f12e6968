"""Webhook endpoints of an organisation (API.md "Events, webhooks, live stream"): create,
change, delete, rotate the secret, redeliver. Each write locks the endpoint row, checks the URL
against SSRF, and records its audit event (never the secret) in the same transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.audit.services import record
from marketplace.common.errors import NotFound, ValidationFailed
from notifications import signing
from notifications.catalog import EVENT_TYPES
from notifications.codes import AuditAction
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.outbox import kick_relay_on_commit
from notifications.selectors import organization_of
from notifications.ssrf import check_url

ROTATION_GRACE = dt.timedelta(hours=24)
MAX_ENDPOINTS_PER_ORGANIZATION = 20


def event_types_clean(value: Any, *, field: str = "event_types") -> list[str]:
    """A non-empty list of known event types, without repeats, in the order given."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(errors={field: ["Must be a non-empty list of event types."]})
    unknown = sorted(set(value) - EVENT_TYPES)
    if unknown:
        raise ValidationFailed(errors={field: [f"Unknown event types: {', '.join(unknown)}."]})
    return list(dict.fromkeys(value))


def _audit(endpoint: WebhookEndpoint, action: AuditAction, actor: User, **data: Any) -> None:
    record(
        action=action,
        object_type="webhook",
        object_id=endpoint.pk,
        actor=actor,
        data={"url": endpoint.url, **data},
    )


def webhook_create(
    *, actor: User, url: str, event_types: Iterable[str], active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the actor's organisation; returns it with its secret (shown once)."""
    check_url(url)
    types = event_types_clean(list(event_types))
    secret = signing.secret_new()
    with transaction.atomic():
        if (
            WebhookEndpoint.objects.filter(organization_id=organization_of(actor)).count()
            >= MAX_ENDPOINTS_PER_ORGANIZATION
        ):
            raise ValidationFailed(
                f"At most {MAX_ENDPOINTS_PER_ORGANIZATION} endpoints per organisation."
            )
        endpoint = WebhookEndpoint.objects.create(
            organization_id=organization_of(actor),
            created_by=actor,
            url=url,
            event_types=types,
            active=active,
            secret=secret,
        )
        _audit(endpoint, AuditAction.WEBHOOK_CREATED, actor, event_types=types, active=active)
    return endpoint, secret


def _locked(actor: User, endpoint_id: int) -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.select_for_update()
        .filter(pk=endpoint_id, organization_id=organization_of(actor))
        .first()
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def webhook_update(*, actor: User, endpoint_id: int, changes: dict[str, Any]) -> WebhookEndpoint:
    """Change url, event_types or active. Setting an endpoint active again (after it was
    disabled for failing) starts its failure count afresh."""
    if "url" in changes:
        check_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = event_types_clean(changes["event_types"])
    with transaction.atomic():
        endpoint = _locked(actor, endpoint_id)
        for field, value in changes.items():
            setattr(endpoint, field, value)
        if changes.get("active"):
            endpoint.consecutive_failures = 0
            endpoint.disabled_at = None
        endpoint.save()
        _audit(endpoint, AuditAction.WEBHOOK_UPDATED, actor, changed=sorted(changes))
    return endpoint


def webhook_delete(*, actor: User, endpoint_id: int) -> None:
    with transaction.atomic():
        endpoint = _locked(actor, endpoint_id)
        _audit(endpoint, AuditAction.WEBHOOK_DELETED, actor)
        endpoint.delete()


def webhook_rotate_secret(*, actor: User, endpoint_id: int) -> str:
    """A new secret; the current one keeps signing (beside it) for 24 hours."""
    with transaction.atomic():
        endpoint = _locked(actor, endpoint_id)
        now = timezone.now()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + ROTATION_GRACE
        endpoint.secret = signing.secret_new()
        endpoint.save()
        _audit(
            endpoint,
            AuditAction.WEBHOOK_SECRET_ROTATED,
            actor,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
        )
    return endpoint.secret


def delivery_redeliver(*, actor: User, endpoint_id: int, delivery_id: int) -> Delivery:
    """Send the delivery's event again (same event id) as a new series of attempts."""
    with transaction.atomic():
        endpoint = _locked(actor, endpoint_id)
        delivery = (
            Delivery.objects.select_for_update().filter(pk=delivery_id, endpoint=endpoint).first()
        )
        if delivery is None:
            raise NotFound("No such delivery.")
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
        _audit(endpoint, AuditAction.WEBHOOK_REDELIVERY_REQUESTED, actor, delivery_id=delivery.pk)
        kick_relay_on_commit()
    return delivery

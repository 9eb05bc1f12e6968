"""Events as organisations receive them, their deliveries, webhook endpoints and e-mail choices.

An :class:`Event` is one domain event as one organisation receives it (API.md: ``{id, type,
created_at, data}``); it is written in the same transaction as the change it reports (the
outbox, ``notifications.outbox``). The relay turns each event into :class:`Delivery` rows, one
per subscribed webhook endpoint and per user who chose it by e-mail; workers send them and
retry failures at ``next_attempt_at``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class Event(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    type = models.CharField(max_length=64)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    data = models.JSONField(default=dict)
    # Set for events that must be written once only (a periodic reminder), else empty.
    dedup_key = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField()
    relayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "dedup_key"],
                condition=~Q(dedup_key=""),
                name="%(app_label)s_%(class)s_once_per_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(relayed_at__isnull=True), name="event_unrelayed_idx"
            ),
            models.Index(fields=["organization", "type", "id"], name="event_org_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type} -> {self.organization_id}"


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    url = models.CharField(max_length=2000)
    event_types = ArrayField(models.CharField(max_length=64))
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100)
    # During a rotation's grace period the previous secret signs too.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["organization", "active"], name="webhook_org_active_idx")]

    def __str__(self) -> str:
        return f"webhook {self.pk} of {self.organization_id}: {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(models.Model):
    """One event sent to one webhook endpoint or to one user's e-mail address."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt may start; while an attempt runs, when it counts as lost.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(endpoint__isnull=True) ^ Q(user__isnull=True),
                name="%(app_label)s_%(class)s_one_channel",
            ),
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="%(app_label)s_%(class)s_once_per_endpoint"
            ),
            models.UniqueConstraint(
                fields=["event", "user"], name="%(app_label)s_%(class)s_once_per_user"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_due_idx",
            ),
            models.Index(fields=["endpoint", "id"], name="delivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id}: {self.status}"


class NotificationPreference(models.Model):
    """A user's e-mail choices; a user without one gets ``catalog.DEFAULT_EMAIL_TYPES`` at its
    account's address."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.EmailField(blank=True)
    event_types = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"

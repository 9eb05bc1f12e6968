"""Reads of notifications, scoped to the caller's organisation in one place."""

from __future__ import annotations

from django.db.models import QuerySet

from marketplace.accounts.models import User
from marketplace.common.errors import Forbidden
from notifications.models import Delivery, WebhookEndpoint


def organization_of(user: User) -> int:
    """The caller's organisation id (every user who reaches these views has one)."""
    if user.organization_id is None:
        raise Forbidden("Only users of an organisation manage its webhooks.")
    return user.organization_id


def webhook_visible_to(*, user: User) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization_id=organization_of(user))


def delivery_of_endpoint(*, user: User, endpoint_id: int) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(
            endpoint_id=endpoint_id, endpoint__organization_id=organization_of(user)
        )
        .select_related("event")
        .order_by("-id")
    )

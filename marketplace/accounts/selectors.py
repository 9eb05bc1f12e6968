"""Reads of organisations and users, scoped to what the caller may see."""

from __future__ import annotations

from django.db.models import QuerySet

from marketplace.accounts.models import Organization, User
from marketplace.common.permissions import is_platform


def organization_visible_to(*, user: User) -> QuerySet[Organization]:
    """Platform users see every organisation; everyone else sees only their own."""
    qs = Organization.objects.all().order_by("id")
    if is_platform(user):
        return qs
    if user.organization_id is None:  # only shell-made superusers have none
        return qs.none()
    return qs.filter(pk=user.organization_id)

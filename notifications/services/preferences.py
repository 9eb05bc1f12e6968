"""A user's e-mail choices (``/api/v1/me/notification-preferences/``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from marketplace.accounts.models import User
from marketplace.common.errors import ValidationFailed
from notifications.catalog import DEFAULT_EMAIL_TYPES, EVENT_TYPES
from notifications.models import NotificationPreference


def preference_of(user: User) -> tuple[str, list[str]]:
    """The address and the event types ``user`` receives by e-mail."""
    preference = NotificationPreference.objects.filter(user=user).first()
    if preference is None:
        return user.email, sorted(DEFAULT_EMAIL_TYPES)
    return preference.email or user.email, sorted(preference.event_types)


def preference_set(*, user: User, email: str | None, event_types: object) -> tuple[str, list[str]]:
    """Replace the user's choices. An empty list stops every e-mail; ``email`` None keeps the
    account's address."""
    if not isinstance(event_types, list) or not all(isinstance(t, str) for t in event_types):
        raise ValidationFailed(errors={"event_types": ["Must be a list of event types."]})
    unknown = sorted(set(event_types) - EVENT_TYPES)
    if unknown:
        raise ValidationFailed(
            errors={"event_types": [f"Unknown event types: {', '.join(unknown)}."]}
        )
    address = (email or "").strip()
    if address:
        try:
            validate_email(address)
        except ValidationError as exc:
            raise ValidationFailed(errors={"email": ["Enter a valid e-mail address."]}) from exc
    with transaction.atomic():
        NotificationPreference.objects.update_or_create(
            user=user, defaults={"email": address, "event_types": sorted(set(event_types))}
        )
    return preference_of(user)

"""Periodic housekeeping of accounts."""

from celery import shared_task
from django.utils import timezone
from knox.models import AuthToken


@shared_task(name="accounts.token_purge_expired")
def token_purge_expired() -> int:
    """Delete expired API tokens (they are refused anyway; this keeps the table small)."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return deleted

"""Core tables shared by every app: stored responses for Idempotency-Key replays."""

from django.db import models


class IdempotencyKey(models.Model):
    """The first response to a POST carrying an ``Idempotency-Key``, per organisation.

    Written in the same transaction as the request's own changes, so a stored key always means
    "this request's effects committed" and a crash leaves no key behind (the retry runs anew).
    """

    organization_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2000)
    user_id = models.BigIntegerField(null=True)
    response_status = models.PositiveSmallIntegerField()
    response_content_type = models.CharField(max_length=200)
    response_headers = models.JSONField(default=dict)
    response_body = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "key"], name="%(app_label)s_%(class)s_org_key"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.key}"

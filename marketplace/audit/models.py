"""Append-only, hash-chained audit events.

Events are grouped in streams, one per aggregate (``organization:7``, ``package:42``). Within a
stream, events are numbered 1, 2, 3 ... and each stores the SHA-256 of its canonical encoding,
which includes the previous event's hash, so an edit, a deletion or a reordering breaks the
chain. A migration installs triggers that make PostgreSQL refuse UPDATE, DELETE and TRUNCATE.
"""

from django.db import models
from django.db.models import Q


class AuditEvent(models.Model):
    stream = models.CharField(max_length=100)
    sequence = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    # The actor is copied by value (ids and names), so the log stands on its own: no foreign key
    # can ever block or cascade into it.
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    actor_organization_id = models.BigIntegerField(null=True, blank=True)
    actor_organization_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "sequence"], name="%(app_label)s_%(class)s_stream_sequence"
            ),
            models.CheckConstraint(
                condition=Q(sequence__gte=1), name="%(app_label)s_%(class)s_sequence_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["action", "id"], name="audit_event_action_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_event_object_idx"),
            models.Index(fields=["actor_organization_id", "id"], name="audit_event_org_idx"),
            models.Index(fields=["occurred_at"], name="audit_event_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.stream}#{self.sequence} {self.action}"

"""One row per Celery message a transaction wants sent; ``sent_at`` is set once published."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    # The Celery task id, fixed when the row is written: a message published twice (a relay
    # died between publishing and its commit) is the same task twice, visible in the logs.
    task_id = models.UUIDField(default=uuid.uuid4, editable=False)
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # When the task should run (Celery's ``eta``); None: at once.
    eta = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Failed publish attempts (the broker was down); the relay keeps trying.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    # The request id of whatever enqueued it (empty outside a request): the message is
    # published with it, by the after-commit kick or by a relay, so it reaches the task's logs.
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's and the lag's only question: which rows are unsent, oldest first.
            models.Index(
                fields=["id"],
                name="outbox_message_unsent",
                condition=models.Q(sent_at__isnull=True),
            ),
            # Purging old sent rows.
            models.Index(fields=["sent_at"], name="outbox_message_sent_at"),
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else "unsent"
        return f"{self.task}{self.args} ({state})"

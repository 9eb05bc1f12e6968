from django.contrib import admin
from django.http import HttpRequest

from marketplace.outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: rows are written by ``enqueue`` and marked by the relay."""

    list_display = ["id", "task", "args", "eta", "created_at", "sent_at", "attempts"]
    list_filter = ["task"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

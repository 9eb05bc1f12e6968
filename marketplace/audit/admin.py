from django.contrib import admin
from django.http import HttpRequest

from marketplace.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the database refuses changes to the audit log anyway."""

    list_display = ["id", "stream", "sequence", "occurred_at", "action", "actor_username"]
    list_filter = ["action", "object_type"]
    search_fields = ["stream", "object_id", "actor_username"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

from django.contrib import admin
from django.http import HttpRequest

from marketplace.ledger.models import Account, Entry


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the ledger is written by its movements; the database refuses edits anyway."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(_ReadOnly):
    list_display = ["id", "organization", "kind", "currency", "created_at"]
    list_filter = ["kind", "currency"]


@admin.register(Entry)
class EntryAdmin(_ReadOnly):
    list_display = ["id", "transaction_id", "organization", "account", "amount", "kind"]
    list_filter = ["kind"]
    search_fields = ["transaction_id"]

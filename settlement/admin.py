from django.contrib import admin

from listings.admin import ReadOnlyAdmin
from settlement.models import Settlement


@admin.register(Settlement)
class SettlementAdmin(ReadOnlyAdmin[Settlement]):
    list_display = ["id", "auction", "buyer", "price", "balance_due", "due_at", "status"]
    list_filter = ["status"]

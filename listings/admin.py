"""Packages and imports are browsable; loans are read-only (they change only by import or
transfer). State changes go through the API's services, so they are audited."""

from typing import TypeVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from listings.models import DataRoomGrant, Loan, LoanTapeImport, Package

_M = TypeVar("_M", bound=Model)


class ReadOnlyAdmin(admin.ModelAdmin[_M]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


@admin.register(Package)
class PackageAdmin(ReadOnlyAdmin[Package]):
    list_display = [
        "id",
        "title",
        "seller",
        "status",
        "currency",
        "loan_count",
        "total_balance",
        "created_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["title", "description", "seller__name"]
    list_select_related = ["seller"]


@admin.register(LoanTapeImport)
class LoanTapeImportAdmin(ReadOnlyAdmin[LoanTapeImport]):
    list_display = [
        "id",
        "package",
        "status",
        "file_name",
        "rows_total",
        "rows_processed",
        "error_count",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "file_type"]
    search_fields = ["file_name", "package__title"]


@admin.register(Loan)
class LoanAdmin(ReadOnlyAdmin[Loan]):
    list_display = [
        "loan_id",
        "package_id",
        "product_type",
        "balance",
        "days_past_due",
        "region",
        "legal_status",
        "owner_id",
    ]
    list_filter = ["product_type", "legal_status"]
    search_fields = ["loan_id"]
    show_full_result_count = False  # counting a million rows on every page is wasted work


@admin.register(DataRoomGrant)
class DataRoomGrantAdmin(ReadOnlyAdmin[DataRoomGrant]):
    list_display = ["package", "organization", "reason", "granted_at"]

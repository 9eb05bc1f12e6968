from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from marketplace.accounts.models import Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["id", "name", "kind", "licence_type", "eligibility", "created_at"]
    list_filter = ["kind", "eligibility", "licence_type"]
    search_fields = ["name", "registration_number"]
    # Eligibility changes go through the API's services so they are audited.
    readonly_fields = ["eligibility", "eligibility_reason", "created_at", "updated_at"]


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    list_display = ["username", "organization", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active", "organization__kind"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),  # typed optional; Django's UserAdmin always sets it
        ("Marketplace", {"fields": ("organization", "role")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("Marketplace", {"fields": ("organization", "role")}),
    )

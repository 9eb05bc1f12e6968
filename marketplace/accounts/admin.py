from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import ValidationError

from marketplace.accounts.models import Organization, OrganizationKind, User


class MemberChangeForm(UserChangeForm[User]):
    """Staff flags only for platform users (and shell superusers, who have no organisation):
    the admin is for platform staff (``admin_site.is_platform_staff``)."""

    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        organization = data.get("organization")
        staff = data.get("is_staff") or data.get("is_superuser")
        shell_superuser = organization is None and data.get("is_superuser")
        platform = organization is not None and organization.kind == OrganizationKind.PLATFORM
        if staff and not (platform or shell_superuser):
            raise ValidationError("Only platform users may be staff or superusers.")
        return data


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["id", "name", "kind", "licence_type", "eligibility", "created_at"]
    list_filter = ["kind", "eligibility", "licence_type"]
    search_fields = ["name", "registration_number"]
    # Eligibility changes go through the API's services so they are audited.
    readonly_fields = ["eligibility", "eligibility_reason", "created_at", "updated_at"]


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    form = MemberChangeForm
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

"""The Django admin, for platform staff only, behind the same login limits as the API.

Who may enter: an active user with ``is_staff`` who belongs to the platform organisation (or a
superuser created from the shell, who has no organisation). A bank's or a buyer's user never
reaches it, whatever its flags say; the admin's user form refuses staff flags on them too.
Every admin login goes through ``login_guarded`` (``marketplace.accounts.login_guard``), so
the admin form is no way around the API's limits: a refused attempt answers 429 problem+json
with ``Retry-After``, as the token endpoint does.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse

from marketplace.accounts.login_guard import login_guarded
from marketplace.accounts.models import OrganizationKind, User
from marketplace.common.codes import ErrorCode
from marketplace.common.errors import problem
from marketplace.common.ratelimit import LimiterUnavailable, RateLimited


def is_platform_staff(user: AbstractBaseUser | AnonymousUser) -> bool:
    """May this user use the Django admin?"""
    if not isinstance(user, User) or not (user.is_active and user.is_staff):
        return False
    if user.organization_id is None:
        return user.is_superuser  # created from the shell by the operator
    organization = user.organization
    return organization is not None and organization.kind == OrganizationKind.PLATFORM


class GuardedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form with the password check run through the login limits."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:

            def check() -> User | None:
                user = authenticate(self.request, username=username, password=password)
                return user if isinstance(user, User) else None

            assert self.request is not None  # the admin's login view always passes it
            self.user_cache = login_guarded(self.request, str(username), check)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if not is_platform_staff(user):
            raise self.get_invalid_login_error()


class PlatformAdminSite(admin.AdminSite):
    login_form = GuardedAdminAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return is_platform_staff(request.user)

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().login(request, extra_context)
        except RateLimited as exc:
            return problem(
                ErrorCode.THROTTLED, str(exc.detail), headers={"Retry-After": str(exc.retry_after)}
            )
        except LimiterUnavailable:
            return problem(ErrorCode.SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})

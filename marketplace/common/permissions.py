"""Role and organisation checks, in one place. Views compose these; selectors scope querysets.

Roles (API.md): ``disposal_officer`` (bank), ``bidder`` (buyer), ``compliance_officer`` and
``platform_admin`` (platform). A user with a token but without the right gets 403; an object the
caller's organisation may not see is hidden by the selectors (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from marketplace.accounts.models import User

DISPOSAL_OFFICER = "disposal_officer"
BIDDER = "bidder"
COMPLIANCE_OFFICER = "compliance_officer"
PLATFORM_ADMIN = "platform_admin"
PLATFORM_ROLES = frozenset({COMPLIANCE_OFFICER, PLATFORM_ADMIN})


def role_of(user: User | AnonymousUser) -> str:
    return getattr(user, "role", "") or ""


def is_platform(user: User | AnonymousUser) -> bool:
    return role_of(user) in PLATFORM_ROLES


class HasRole(BasePermission):
    """Allow authenticated users holding one of ``roles``. Use ``HasRole.of(...)``."""

    roles: frozenset[str] = frozenset()
    message = "Your role may not perform this action."

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        name = "HasRole_" + "_".join(sorted(roles))
        return type(name, (cls,), {"roles": frozenset(roles)})

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and role_of(user) in self.roles)


IsPlatform = HasRole.of(COMPLIANCE_OFFICER, PLATFORM_ADMIN)
IsPlatformAdmin = HasRole.of(PLATFORM_ADMIN)
IsCompliance = HasRole.of(COMPLIANCE_OFFICER)
IsDisposalOfficer = HasRole.of(DISPOSAL_OFFICER)
IsBidder = HasRole.of(BIDDER)

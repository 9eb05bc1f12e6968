"""The caller of a request, typed: views hand services a ``User``, never an anonymous one."""

from __future__ import annotations

from django.http import HttpRequest
from knox.models import AuthToken
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from marketplace.accounts.models import User


def request_user(request: Request | HttpRequest) -> User:
    """The authenticated user of ``request``.

    Views call it after their permission classes have let only authenticated users through, so
    the refusal below (401, as DRF's own) is a guard, not a path a caller takes."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def request_token(request: Request) -> AuthToken:
    """The API token that authenticated ``request`` (a guard like ``request_user``)."""
    token = request.auth
    if not isinstance(token, AuthToken):
        raise NotAuthenticated()
    return token

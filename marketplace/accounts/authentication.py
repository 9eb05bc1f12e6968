"""Token authentication: knox's, except that a token which is not valid UTF-8 is refused (401)
instead of escaping as a ``UnicodeDecodeError`` (500). HTTP headers are Latin-1, so any client
can send such bytes, and bad input must never get a 500 (API.md, Conventions)."""

from __future__ import annotations

import binascii
from hmac import compare_digest

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.exceptions import AuthenticationFailed


class TokenAuthentication(KnoxTokenAuthentication):
    """One query per request: the token with its user and organisation.

    knox's own version also reads every token of the user on every request to delete expired
    ones; here an expired token is refused (and deleted) when it is used, and the others are
    purged by the hourly ``accounts.token_purge_expired`` task."""

    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode("utf-8")
            digest = hash_token(text)
        except (UnicodeDecodeError, TypeError, ValueError, binascii.Error) as exc:
            raise AuthenticationFailed("Invalid token.") from exc
        candidates = AuthToken.objects.filter(
            token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]
        ).select_related("user", "user__organization")
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                raise AuthenticationFailed("Token expired.")
            return self.validate_user(auth_token)
        raise AuthenticationFailed("Invalid token.")


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the scheme in the OpenAPI schema (drf-spectacular finds it by class path)."""

    target_class = "marketplace.accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`, the key from POST /api/v1/auth/token/ (expires).",
        }

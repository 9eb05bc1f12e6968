"""Token authentication: knox's, except that a token which is not valid UTF-8 is refused (401)
instead of escaping as a ``UnicodeDecodeError`` (500). HTTP headers are Latin-1, so any client
can send such bytes, and bad input must never get a 500 (API.md, Conventions)."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from functools import cache
from hmac import compare_digest
from typing import TYPE_CHECKING, Any, cast

from django.db import connection
from django.db.models import Model
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.exceptions import AuthenticationFailed

from marketplace.accounts.models import Organization, User

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

# A database converter: (value, expression, connection) -> value.
_Converter = Callable[[Any, Any, Any], Any]
# Per model of the query: the model, its column names, each column's converters.
_ModelColumns = tuple[type[Model], list[str], list[list[_Converter]]]


@cache
def _token_query() -> tuple[str, list[_ModelColumns]]:
    """The SQL of ``AuthToken.objects.filter(token_key=...).select_related("user",
    "user__organization")``, written once: every request runs this query, and building it
    through the ORM cost more CPU than running it. Returns the SQL and, per model, its column
    names and database converters (none today; applied if a field ever has one)."""
    parts: list[_ModelColumns] = []
    selected = []
    for model, alias in ((AuthToken, "t"), (User, "u"), (Organization, "o")):
        fields = model._meta.concrete_fields
        converters = [
            connection.ops.get_db_converters(f.get_col(alias)) + f.get_db_converters(connection)
            for f in fields
        ]
        parts.append((model, [f.attname for f in fields], converters))
        # cast: a concrete field always has a column (the type allows None for others).
        selected += [f"{alias}.{connection.ops.quote_name(cast(str, f.column))}" for f in fields]
    token_user = AuthToken._meta.get_field("user").column
    user_organization = User._meta.get_field("organization").column
    sql = (
        f"SELECT {', '.join(selected)} FROM {AuthToken._meta.db_table} t "  # noqa: S608
        f"JOIN {User._meta.db_table} u ON u.{User._meta.pk.column} = t.{token_user} "
        f"LEFT JOIN {Organization._meta.db_table} o "
        f"ON o.{Organization._meta.pk.column} = u.{user_organization} "
        "WHERE t.token_key = %s"
    )
    return sql, parts


def _tokens_with_user(token_key: str) -> list[AuthToken]:
    """The tokens of ``token_key``, each with its user and the user's organisation loaded."""
    sql, parts = _token_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_key])
        rows = cursor.fetchall()
    tokens = []
    for row in rows:
        instances: list[Model | None] = []
        start = 0
        for model, names, converters in parts:
            values = list(row[start : start + len(names)])
            start += len(names)
            for i, field_converters in enumerate(converters):
                for converter in field_converters:
                    values[i] = converter(values[i], None, connection)
            pk = values[names.index(model._meta.pk.attname)]
            instances.append(None if pk is None else model.from_db(connection.alias, names, values))
        # Inner joins: the token and its user are there; the organisation may be None.
        token, user, organization = instances
        token, user = cast(AuthToken, token), cast(User, user)
        User._meta.get_field("organization").set_cached_value(user, organization)
        AuthToken._meta.get_field("user").set_cached_value(token, user)
        tokens.append(token)
    return tokens


class TokenAuthentication(KnoxTokenAuthentication):
    """One query per request: the token with its user and organisation.

    knox's own version also reads every token of the user on every request to delete expired
    ones; here an expired token is refused (and deleted) when it is used, and the others are
    purged by the hourly ``accounts.token_purge_expired`` task."""

    def authenticate_credentials(self, token: bytes) -> tuple[User, AuthToken]:
        try:
            text = token.decode("utf-8")
            digest = hash_token(text)
        except (UnicodeDecodeError, TypeError, ValueError, binascii.Error) as exc:
            raise AuthenticationFailed("Invalid token.") from exc
        for auth_token in _tokens_with_user(text[: CONSTANTS.TOKEN_KEY_LENGTH]):
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

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`, the key from POST /api/v1/auth/token/ (expires).",
        }

"""Refuse NUL characters in query parameters and headers before any view reads them.

PostgreSQL stores no NUL in text, and psycopg refuses to send one: a filter such as
``?search=a%00b``, ``/audit-events/verify/?stream=x%00`` or an ``Idempotency-Key`` holding a NUL
reached the database and answered 500. No parameter or header of this API can meaningfully
hold one, so every request carrying one gets 400 ``invalid_value`` naming it, whatever the
endpoint. Body strings are refused by the serializers (DRF's ``CharField`` prohibits NUL).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from marketplace.common.codes import ErrorCode
from marketplace.common.errors import problem

NUL = "\x00"
NUL_MESSAGE = "NUL characters are not allowed."


def _header_name(meta_key: str) -> str:
    return meta_key.removeprefix("HTTP_").replace("_", "-").title()


def nul_carriers(request: HttpRequest) -> list[str]:
    """The query parameters and headers of ``request`` that contain a NUL, by name."""
    names = [
        name.replace(NUL, "\\x00")
        for name, values in request.GET.lists()
        if NUL in name or any(NUL in value for value in values)
    ]
    names += [
        _header_name(key)
        for key, value in request.META.items()
        if key.startswith("HTTP_") and isinstance(value, str) and NUL in value
    ]
    return names


class NulCharacterMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        names = nul_carriers(request)
        if names:
            return problem(
                ErrorCode.INVALID_VALUE,
                f"{names[0]}: {NUL_MESSAGE}",
                {name: [NUL_MESSAGE] for name in names},
            )
        return self.get_response(request)

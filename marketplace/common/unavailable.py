"""Non-DRF views (admin, probes, anything Django serves itself) answer 503 problem+json with
``Retry-After`` when the database is unreachable, as DRF views do through the exception
handler; errors raised by middleware reach ``errors.handler500``, which does the same."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from marketplace.common.errors import DATABASE_UNAVAILABLE_ERRORS, database_unavailable


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return database_unavailable(request, exception)
        return None

"""Non-DRF views (admin, probes, anything Django serves itself) answer 503 problem+json with
``Retry-After`` when the database (or Redis) is unreachable, as DRF views do through the exception
handler; errors raised by middleware reach ``errors.handler500``, which does the same."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from marketplace.common.errors import UNAVAILABLE_ERRORS, service_unavailable


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, UNAVAILABLE_ERRORS):
            return service_unavailable(request, exception)
        return None

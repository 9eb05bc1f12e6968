"""Per request: the request id (a sane incoming ``X-Request-ID`` or a new one, answered in the
response's ``X-Request-ID``), the request count and latency by route pattern, and one access
log line (logger ``marketplace.access``)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from marketplace.observability import context, metrics

access_logger = logging.getLogger("marketplace.access")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def route_of(request: HttpRequest) -> str:
    """The URL pattern that served the request, e.g. ``api/v1/auctions/{pk}/bids/``: bounded,
    unlike raw paths (ids, typos, scans); ``unmatched`` when no pattern matched."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "unmatched"
    route = _REGEX_GROUP.sub(r"{\1}", match.route)
    route = _CONVERTER.sub(r"{\1}", route)
    return "/" + route.replace("^", "").replace("$", "").replace("\\", "")


class ObservabilityMiddleware:
    """First in ``MIDDLEWARE``, so every answer is counted, refusals of later middleware too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = context.sane_request_id(request.headers.get("X-Request-ID"))
        token = context.request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self._record(request, response, time.perf_counter() - started)
            return response
        finally:
            context.request_id.reset(token)

    @staticmethod
    def _record(request: HttpRequest, response: HttpResponseBase, duration: float) -> None:
        method = request.method if request.method in _METHODS else "OTHER"
        route = route_of(request)
        status = response.status_code
        metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        metrics.HTTP_LATENCY.labels(method=method, route=route).observe(duration)
        user = getattr(request, "user", None)
        access_logger.info(
            "%s %s %s",
            method,
            request.path,
            status,
            extra={
                "method": method,
                "path": request.path,
                "route": route,
                "status": status,
                "duration_ms": round(duration * 1000, 1),
                "user_id": getattr(user, "pk", None),
            },
        )

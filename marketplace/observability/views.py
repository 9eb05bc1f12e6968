"""``GET /metrics``: Prometheus text format, for the monitoring system only.

Allowed: ``Authorization: Bearer <METRICS_TOKEN>`` (when that setting is set), or an API token
(``Authorization: Token <key>``) of a platform user. No or wrong credentials: 401; a valid API
token of any other user: 404, as for any object its organisation may not see.
"""

from __future__ import annotations

from hmac import compare_digest

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from rest_framework import exceptions as drf
from rest_framework.request import Request

from marketplace.common.codes import ErrorCode
from marketplace.common.errors import problem
from marketplace.common.permissions import is_platform
from marketplace.observability.collector import ScrapeTimeCollector


def _denied(request: HttpRequest) -> HttpResponse | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    expected = str(settings.METRICS_TOKEN or "")
    if scheme.lower() == "bearer" and expected:
        if compare_digest(credentials.strip().encode(), expected.encode()):
            return None
    elif scheme == "Token":
        from marketplace.accounts.authentication import TokenAuthentication

        try:
            found = TokenAuthentication().authenticate(Request(request))
        except drf.AuthenticationFailed:
            found = None
        if found is not None:
            return None if is_platform(found[0]) else problem(ErrorCode.NOT_FOUND, "Not found.")
    return problem(
        ErrorCode.NOT_AUTHENTICATED, headers={"WWW-Authenticate": 'Token, Bearer realm="metrics"'}
    )


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    denied = _denied(request)
    if denied is not None:
        return denied
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    registry.register(ScrapeTimeCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

"""``Idempotency-Key`` on every POST (API.md, Conventions), for every view, with no view code.

For an authenticated POST carrying the header, the middleware:

1. takes a transaction-scoped advisory lock on (organisation, key) with
   ``pg_try_advisory_xact_lock``; if another request holds it, answers 409
   ``idempotency_key_in_flight`` at once;
2. looks the key up: a stored response with the same request fingerprint (method, path, body) is
   replayed byte for byte, to its author or to a colleague whose role the view lets in (else
   403); a different fingerprint gets 422 ``idempotency_key_reused``;
3. otherwise runs the view *inside the same transaction* and stores the response with it, so the
   request's effects and its stored response commit together, exactly once. A 5xx is rolled back
   and not stored, so a retry after a crash or a bug runs again.

Multipart bodies are fingerprinted from Django's parsed form and uploaded files (streamed to
temporary files, hashed in chunks), so a large upload is never held in memory.
Anonymous requests (login) are not covered: a key is scoped to an organisation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.views import APIView

from marketplace.common.codes import ErrorCode
from marketplace.common.errors import problem
from marketplace.common.locks import try_advisory_xact_lock
from marketplace.common.models import IdempotencyKey

if TYPE_CHECKING:
    from marketplace.accounts.models import User

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
STORED_HEADERS = ("Location",)


def _authenticated_user(request: HttpRequest) -> User | None:
    from marketplace.accounts.authentication import TokenAuthentication

    try:
        result = TokenAuthentication().authenticate(Request(request))
    except APIException:
        return None
    return result[0] if result else None


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update((request.method or "").encode())
    digest.update(b"\0")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/form-data"):
        for name in sorted(request.POST.keys()):
            for value in request.POST.getlist(name):
                digest.update(f"field:{name}={value}\0".encode())
        for name in sorted(request.FILES.keys()):
            for upload in request.FILES.getlist(name):
                digest.update(f"file:{name}:{upload.name}:{upload.size}\0".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        digest.update(content_type.split(";")[0].strip().encode())
        digest.update(b"\0")
        digest.update(request.body)
    return digest.hexdigest()


def _may_make(request: HttpRequest, user: User) -> bool:
    """Whether the view of this request lets ``user`` in (its permission classes, where every
    role rule is declared). A stored response belongs to the organisation, and a colleague
    whose role may not make the request must not read it back through the key."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return True  # nothing was stored for it: only routed views answer 2xx-4xx with a body
    view_class = getattr(match.func, "cls", None)
    if view_class is None or not issubclass(view_class, APIView):
        return True
    view = view_class(**getattr(match.func, "initkwargs", {}))
    actions: dict[str, str] = getattr(match.func, "actions", None) or {}
    if actions:  # a ViewSet route: get_permissions reads the action
        view.action = actions.get((request.method or "").lower())
    drf_request = Request(request)
    drf_request.user = user
    view.request, view.args, view.kwargs = drf_request, match.args, match.kwargs
    try:
        view.check_permissions(drf_request)
    except APIException:
        return False
    return True


def _replay(stored: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        bytes(stored.response_body),
        status=stored.response_status,
        content_type=stored.response_content_type,
    )
    for name, value in (stored.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method != "POST" or HEADER not in request.META:
            return self.get_response(request)
        key = request.META[HEADER]
        if not 1 <= len(key) <= 255:
            return problem(
                ErrorCode.VALIDATION_ERROR,
                "Idempotency-Key must be 1 to 255 characters.",
                {"Idempotency-Key": ["Must be 1 to 255 characters."]},
            )
        user = _authenticated_user(request)
        if user is None or user.organization_id is None:
            return self.get_response(request)  # the view answers 401 or runs unscoped
        fingerprint = _fingerprint(request)
        return self._handle(request, user, user.organization_id, key, fingerprint)

    def _handle(
        self, request: HttpRequest, user: User, org_id: int, key: str, fingerprint: str
    ) -> HttpResponseBase:
        with transaction.atomic():
            if not try_advisory_xact_lock(f"idempotency:{org_id}:{key}"):
                return problem(ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT)
            stored = IdempotencyKey.objects.filter(organization_id=org_id, key=key).first()
            ttl = timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
            if stored is not None and stored.created_at < timezone.now() - ttl:
                stored.delete()
                stored = None
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return problem(ErrorCode.IDEMPOTENCY_KEY_REUSED)
                if stored.user_id != user.pk and not _may_make(request, user):
                    return problem(
                        ErrorCode.PERMISSION_DENIED, "Your role may not make this request."
                    )
                return _replay(stored)

            response = self.get_response(request)

            # A streaming response (not an HttpResponse) has no body to store. A 429 (a rate
            # limit refused the request before it did anything) is not the request's outcome:
            # the client retries with the same key after Retry-After, and that retry must run.
            if (
                response.status_code >= 500
                or response.status_code == 429
                or not isinstance(response, HttpResponse)
            ):
                transaction.set_rollback(True)
                return response
            IdempotencyKey.objects.create(
                organization_id=org_id,
                key=key,
                fingerprint=fingerprint,
                method=request.method or "",
                path=request.path[:2000],
                user_id=user.pk,
                response_status=response.status_code,
                response_content_type=response.get("Content-Type", "application/json"),
                response_headers={h: response[h] for h in STORED_HEADERS if response.has_header(h)},
                response_body=bytes(response.content),
            )
            return response


def idempotency_purge_expired() -> int:
    """Delete stored keys older than the retention window (API.md: kept >= 24 h)."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted

"""Errors as RFC 9457 problem+json, each with a stable machine-readable ``code`` (API.md).

Services raise :class:`DomainError` subclasses; DRF views get them (and every DRF/Django
exception) turned into problem+json by :func:`exception_handler`; Django-level 404/500 use
:func:`handler404` / :func:`handler500`. Nothing here knows about any domain app.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from rest_framework import exceptions as drf

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# code -> (status, default detail). The stable codes of API.md plus the HTTP-level ones.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "validation_error": (400, "The request is not valid."),
    "invalid_value": (400, "A value is not valid."),
    "not_authenticated": (401, "Authentication credentials were not provided or are invalid."),
    "permission_denied": (403, "You do not have permission to perform this action."),
    "not_found": (404, "Not found."),
    "method_not_allowed": (405, "Method not allowed."),
    "not_acceptable": (406, "Cannot satisfy the request's Accept header."),
    "invalid_state": (409, "The transition is not allowed from the current status."),
    "idempotency_key_in_flight": (409, "A request with this Idempotency-Key is still running."),
    "idempotency_key_reused": (422, "This Idempotency-Key was used with a different request."),
    "payload_too_large": (413, "The request body is too large."),
    "unsupported_media_type": (415, "Unsupported media type."),
    "throttled": (429, "Request was throttled."),
    "server_error": (500, "Internal server error."),
    "service_unavailable": (503, "Service unavailable."),
}


class DomainError(Exception):
    """A refusal by a service. Carries its HTTP status and stable code; changes nothing."""

    status_code = 400
    code = "validation_error"
    default_detail = "The request is not valid."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        errors: Mapping[str, list[str]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code or self.code
        if status_code is not None:
            self.status_code = status_code
        self.detail = detail or self.default_detail
        self.errors = dict(errors) if errors else None
        self.extra = dict(extra) if extra else {}
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_error"


class InvalidValue(DomainError):
    status_code = 400
    code = "invalid_value"
    default_detail = "A value is not valid."


class InvalidState(DomainError):
    status_code = 409
    code = "invalid_state"
    default_detail = "The transition is not allowed from the current status."


class Forbidden(DomainError):
    status_code = 403
    code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class Conflict(DomainError):
    status_code = 409


def problem_body(
    status: int,
    code: str,
    detail: str,
    errors: Mapping[str, list[str]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": f"urn:npl-marketplace:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = {key: [str(m) for m in messages] for key, messages in errors.items()}
    for key, value in (extra or {}).items():
        body.setdefault(key, value)  # extras never overwrite the standard members
    return body


def problem_response(
    status: int,
    code: str,
    detail: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> HttpResponse:
    """A problem+json response; rendered here so no content negotiation can change its type."""
    detail = detail or ERROR_CODES.get(code, (status, "Error"))[1]
    body = problem_body(status, code, detail, errors, extra)
    response = HttpResponse(
        json.dumps(body, default=str).encode(), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"field" or "field.sub" or "items.0.field": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, Mapping | list) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _first_message(errors: Mapping[str, list[str]]) -> str:
    for field, messages in errors.items():
        if messages:
            return messages[0] if field == "non_field_errors" else f"{field}: {messages[0]}"
    return ERROR_CODES["validation_error"][1]


_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "not_authenticated"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "throttled"),
    (drf.ParseError, "validation_error"),
]


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> HttpResponse | None:
    """DRF ``EXCEPTION_HANDLER``: every handled error becomes problem+json."""
    if isinstance(exc, DomainError):
        return problem_response(exc.status_code, exc.code, exc.detail, exc.errors, extra=exc.extra)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None  # a bug: Django's handler500 answers with a problem+json 500

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, drf.ValidationError):
        errors = _flatten(exc.detail)
        return problem_response(400, "validation_error", _first_message(errors), errors, headers)

    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), None)
    if code is None:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "validation_error"
    detail = exc.detail if isinstance(exc.detail, str) else ERROR_CODES.get(code, (0, ""))[1]
    if isinstance(exc, drf.ParseError):
        detail = f"Malformed request body: {exc.detail}"
    return problem_response(exc.status_code, code, str(detail), None, headers)


def handler404(request, exception=None) -> HttpResponse:  # noqa: ARG001
    return problem_response(404, "not_found", "No such resource.")


def handler500(request) -> HttpResponse:  # noqa: ARG001
    return problem_response(500, "server_error")


def handler400(request, exception=None) -> HttpResponse:  # noqa: ARG001
    return problem_response(400, "validation_error", "Bad request.")


def handler403(request, exception=None) -> HttpResponse:  # noqa: ARG001
    return problem_response(403, "permission_denied")

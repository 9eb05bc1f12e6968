"""Errors as RFC 9457 problem+json, each with a stable machine-readable ``code`` (API.md).

Services raise :class:`DomainError` subclasses; DRF views get them (and every DRF/Django
exception) turned into problem+json by :func:`exception_handler`; Django-level 404/500 use
:func:`handler404` / :func:`handler500`. Nothing here knows about any domain app.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from redis import exceptions as redis_exceptions
from rest_framework import exceptions as drf

from marketplace.common.codes import ERRORS, ErrorCode, spec_of

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# code -> (status, default detail) of the generic codes, as declared in codes.py.
ERROR_CODES: dict[str, tuple[int, str]] = {
    str(code): (spec.status, spec.detail) for code, spec in ERRORS.items()
}


class DomainError(Exception):
    """A refusal by a service. Carries its HTTP status and stable code; changes nothing.

    A subclass that sets a generic ``code`` (``marketplace.common.codes.ErrorCode``) takes its
    status and default detail from ``ERRORS`` unless it sets them itself."""

    status_code = ERRORS[ErrorCode.VALIDATION_ERROR].status
    code: str = ErrorCode.VALIDATION_ERROR
    default_detail = ERRORS[ErrorCode.VALIDATION_ERROR].detail

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = spec_of(cls.__dict__.get("code", ""))
        if spec is not None:
            if "status_code" not in cls.__dict__:
                cls.status_code = spec.status
            if "default_detail" not in cls.__dict__:
                cls.default_detail = spec.detail

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


# ``code: str``, not the inferred ``ErrorCode``: each app's subclasses set a code from its own
# registry (``<app>/codes.py``).
class ValidationFailed(DomainError):
    code: str = ErrorCode.VALIDATION_ERROR


class InvalidValue(DomainError):
    code: str = ErrorCode.INVALID_VALUE


class InvalidState(DomainError):
    code: str = ErrorCode.INVALID_STATE


class Forbidden(DomainError):
    code: str = ErrorCode.PERMISSION_DENIED


class NotFound(DomainError):
    code: str = ErrorCode.NOT_FOUND


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


def problem(
    code: ErrorCode,
    detail: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """``problem_response`` for a generic code, at the status ``codes.py`` declares for it."""
    return problem_response(ERRORS[code].status, code, detail, errors, headers)


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
    return ERRORS[ErrorCode.VALIDATION_ERROR].detail


_DRF_CODES: list[tuple[type[Exception], ErrorCode]] = [
    (drf.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (drf.AuthenticationFailed, ErrorCode.NOT_AUTHENTICATED),
    (drf.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (drf.NotFound, ErrorCode.NOT_FOUND),
    (drf.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (drf.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (drf.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf.Throttled, ErrorCode.THROTTLED),
    (drf.ParseError, ErrorCode.VALIDATION_ERROR),
]


# The database unreachable or its connection lost (restart, failover, network), or Redis (the
# cache behind the login throttle) down: transient, so 503 + Retry-After rather than a 500; the
# broken connection is dropped and reopened on the next request.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    *DATABASE_ERRORS,
    redis_exceptions.ConnectionError,
    redis_exceptions.TimeoutError,
)


def service_unavailable(request: HttpRequest | None, exc: BaseException) -> HttpResponse:
    """503 ``service_unavailable`` with ``Retry-After``; logged on one line, no stack trace."""
    path = request.path if request is not None else "-"
    logger.warning("service unavailable on %s: %s: %s", path, type(exc).__name__, exc)
    what = "The database" if isinstance(exc, DATABASE_ERRORS) else "A backing service"
    return problem(
        ErrorCode.SERVICE_UNAVAILABLE,
        f"{what} is unavailable; retry shortly.",
        headers={"Retry-After": str(settings.DATABASE_RETRY_AFTER_SECONDS)},
    )


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> HttpResponse | None:
    """DRF ``EXCEPTION_HANDLER``: every handled error becomes problem+json."""
    if isinstance(exc, RequestDataTooBig):  # raised while the parser reads the body
        return problem(ErrorCode.PAYLOAD_TOO_LARGE, str(exc))
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return service_unavailable(context.get("request"), exc)
    if isinstance(exc, DomainError):
        return problem_response(exc.status_code, exc.code, exc.detail, exc.errors, extra=exc.extra)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None  # a bug: Django's handler500 answers with a problem+json 500

    headers: dict[str, str] = {}
    # Only some APIException subclasses carry these (NotAuthenticated's realm, Throttled's wait).
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))

    if isinstance(exc, drf.ValidationError):
        errors = _flatten(exc.detail)
        return problem(ErrorCode.VALIDATION_ERROR, _first_message(errors), errors, headers)

    code: str | None = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), None)
    if code is None:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else ErrorCode.VALIDATION_ERROR
    detail = exc.detail if isinstance(exc.detail, str) else ERROR_CODES.get(code, (0, ""))[1]
    if isinstance(exc, drf.ParseError):
        detail = f"Malformed request body: {exc.detail}"
    return problem_response(exc.status_code, code, str(detail), None, headers)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return problem(ErrorCode.NOT_FOUND, "No such resource.")


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its ``except`` block: an error raised by a middleware (session,
    # idempotency) while the database is down is still a 503, not a 500.
    exc = sys.exc_info()[1]
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return service_unavailable(request, exc)
    return problem(ErrorCode.SERVER_ERROR)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):  # Django's 400 for it: a 413 by HTTP's rules
        return problem(ErrorCode.PAYLOAD_TOO_LARGE, str(exception))
    return problem(ErrorCode.VALIDATION_ERROR, "Bad request.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return problem(ErrorCode.PERMISSION_DENIED)

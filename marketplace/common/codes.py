"""The generic problem+json codes every app may raise (API.md "Errors"), each declared once with
its HTTP status and default detail, and the audit actions of ``marketplace.common`` (none).

Every app declares its own codes the same way, in ``<app>/codes.py``: ``class ErrorCode`` and
``class AuditAction`` (``StrEnum``, value = wire code / dotted action). An app may also give
``ERRORS``, a mapping from its codes to :class:`ErrorSpec`; otherwise the registry
(``marketplace.common.registry``) reads a code's status and detail from the ``DomainError``
subclass that raises it. docs/CODES.md is generated from the registry (``make docs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    INVALID_VALUE = "invalid_value"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    INVALID_STATE = "invalid_state"
    IDEMPOTENCY_KEY_IN_FLIGHT = "idempotency_key_in_flight"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    REQUEST_LINE_TOO_LONG = "request_line_too_long"
    HEADERS_TOO_LARGE = "headers_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


class AuditAction(StrEnum):
    """``marketplace.common`` records no audit event of its own."""


@dataclass(frozen=True)
class ErrorSpec:
    """What a code means on the wire: its HTTP status, the ``detail`` used when the raiser gives
    none, and (for the docs) when it is raised, if the detail does not say it already."""

    status: int
    detail: str
    description: str = ""

    @property
    def meaning(self) -> str:
        return self.description or self.detail


ERRORS: Mapping[ErrorCode, ErrorSpec] = {
    ErrorCode.VALIDATION_ERROR: ErrorSpec(
        400,
        "The request is not valid.",
        "The request is malformed or a field fails validation; `errors` names the fields.",
    ),
    ErrorCode.INVALID_VALUE: ErrorSpec(
        400,
        "A value is not valid.",
        "A value is well formed but not acceptable (for example an amount out of range).",
    ),
    ErrorCode.NOT_AUTHENTICATED: ErrorSpec(
        401,
        "Authentication credentials were not provided or are invalid.",
        "No token, or an invalid, expired or revoked one; or a failed login.",
    ),
    ErrorCode.PERMISSION_DENIED: ErrorSpec(
        403, "You do not have permission to perform this action."
    ),
    ErrorCode.NOT_FOUND: ErrorSpec(
        404,
        "Not found.",
        "No such resource, or one the caller's organisation may not see.",
    ),
    ErrorCode.METHOD_NOT_ALLOWED: ErrorSpec(405, "Method not allowed."),
    ErrorCode.NOT_ACCEPTABLE: ErrorSpec(406, "Cannot satisfy the request's Accept header."),
    ErrorCode.INVALID_STATE: ErrorSpec(
        409,
        "The transition is not allowed from the current status.",
        "The transition is not allowed from the current status (`current_status` says which).",
    ),
    ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT: ErrorSpec(
        409, "A request with this Idempotency-Key is still running."
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: ErrorSpec(
        422, "This Idempotency-Key was used with a different request."
    ),
    ErrorCode.PAYLOAD_TOO_LARGE: ErrorSpec(413, "The request body is too large."),
    ErrorCode.REQUEST_LINE_TOO_LONG: ErrorSpec(
        414,
        "The request line (method, path and query) is too long.",
        "Answered by the reverse proxy before the request reaches the application "
        "(docs/OPERATIONS.md).",
    ),
    ErrorCode.HEADERS_TOO_LARGE: ErrorSpec(
        431,
        "A request header field is too large.",
        "Answered by the reverse proxy before the request reaches the application "
        "(docs/OPERATIONS.md).",
    ),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorSpec(415, "Unsupported media type."),
    ErrorCode.THROTTLED: ErrorSpec(
        429, "Request was throttled.", "Too many requests; `Retry-After` says when to retry."
    ),
    ErrorCode.SERVER_ERROR: ErrorSpec(500, "Internal server error."),
    ErrorCode.SERVICE_UNAVAILABLE: ErrorSpec(503, "Service unavailable."),
}


def spec_of(code: str) -> ErrorSpec | None:
    """The spec of a generic code, or None for any other (an app's own code)."""
    try:
        return ERRORS[ErrorCode(code)]
    except ValueError:
        return None

"""OpenAPI helpers: the problem+json component and per-endpoint error documentation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from marketplace.common.codes import ERRORS, ErrorCode


class ProblemSerializer(serializers.Serializer[dict[str, Any]]):
    """RFC 9457 problem details, with the stable machine-readable ``code`` of API.md."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable error code, e.g. `invalid_state`.")
    # problem+json names this member `errors` (API.md), which shadows Serializer.errors; this
    # serializer only documents the schema and is never validated, so nothing reads the property.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name -> messages (validation errors).",
    )


# What an error status means to a client. The generic codes listed with it come from
# marketplace.common.codes (every code at that status), the apps' own codes from ``codes=``.
_SUMMARIES = {
    400: "Invalid input",
    401: "No valid token",
    403: "Authenticated but not allowed",
    404: "Not found, or not visible to the caller's organisation",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Idempotency-Key reused with a different request",
    429: "Throttled",
}
# The statuses at which an app may answer with a code of its own.
_DOMAIN_STATUSES = frozenset({400, 403, 409})


def status_description(status: int) -> str:
    """E.g. "Conflict (`invalid_state`, `idempotency_key_in_flight`, or a domain code)."."""
    if status not in _SUMMARIES:
        return "Error."
    listed = [f"`{code}`" for code, spec in ERRORS.items() if spec.status == status]
    if status in _DOMAIN_STATUSES:
        listed.append("or a domain code")
    joined = ", ".join(listed) if len(listed) > 2 else " ".join(listed)
    return f"{_SUMMARIES[status]} ({joined})."


def problems(
    *statuses: int, codes: Mapping[int, Sequence[str]] | None = None
) -> dict[tuple[int, str], OpenApiResponse]:
    """``responses=`` entries for the given error statuses, all problem+json."""
    out: dict[tuple[int, str], OpenApiResponse] = {}
    for status in statuses:
        description = status_description(status)
        if codes and status in codes:
            description += " Codes: " + ", ".join(f"`{c}`" for c in codes[status]) + "."
        out[(status, "application/problem+json")] = OpenApiResponse(
            response=ProblemSerializer,
            description=description,
        )
    return out


READ_ERRORS = (401, 403, 404)

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description=(
        "1-255 characters. A repeat with the same key and body from the same organisation "
        "returns the first response; a different body gives 422 `idempotency_key_reused`; "
        "while the first is running, 409 `idempotency_key_in_flight`."
    ),
)


def add_idempotency_header(
    result: dict[str, Any], generator: object, request: object, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: document Idempotency-Key on every POST."""
    for path, path_item in result.get("paths", {}).items():
        operation = path_item.get("post")
        if operation is None or path.endswith("/auth/token/"):
            continue  # keys are scoped to an organisation: anonymous login is not covered
        params = operation.setdefault("parameters", [])
        if not any(p.get("name") == "Idempotency-Key" for p in params):
            params.append(
                {
                    "in": "header",
                    "name": "Idempotency-Key",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": IDEMPOTENCY_KEY.description,
                }
            )
        responses = operation.setdefault("responses", {})
        for code in (ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT, ErrorCode.IDEMPOTENCY_KEY_REUSED):
            responses.setdefault(
                str(ERRORS[code].status),
                {
                    "description": ERRORS[code].detail,
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            )
    return result

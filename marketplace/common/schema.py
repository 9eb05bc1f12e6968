"""OpenAPI helpers: the problem+json component and per-endpoint error documentation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from marketplace.common.errors import ERROR_CODES


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, with the stable machine-readable ``code`` of API.md."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable error code, e.g. `invalid_state`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name -> messages (validation errors).",
    )


_DESCRIPTIONS = {
    400: "Invalid input (`validation_error`, `invalid_value`, or a domain code).",
    401: "No valid token (`not_authenticated`).",
    403: "Authenticated but not allowed (`permission_denied` or a domain code).",
    404: "Not found, or not visible to the caller's organisation (`not_found`).",
    405: "Method not allowed (`method_not_allowed`).",
    409: "Conflict (`invalid_state`, `idempotency_key_in_flight`, or a domain code).",
    413: "Payload too large (`payload_too_large`).",
    415: "Unsupported media type (`unsupported_media_type`).",
    422: "Idempotency-Key reused with a different request (`idempotency_key_reused`).",
    429: "Throttled (`throttled`).",
}


def problems(*statuses: int, codes: dict[int, list[str]] | None = None) -> dict:
    """``responses=`` entries for the given error statuses, all problem+json."""
    out = {}
    for status in statuses:
        description = _DESCRIPTIONS.get(status, "Error.")
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


def add_idempotency_header(result, generator, request, public):  # noqa: ARG001
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
        for status, code in (
            ("409", "idempotency_key_in_flight"),
            ("422", "idempotency_key_reused"),
        ):
            responses.setdefault(
                status,
                {
                    "description": ERROR_CODES[code][1],
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            )
    return result

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


# ----------------------------------------------------------------- answers every operation gives
# What the API answers whatever the view (middleware, parsers, pagination, exports), documented
# on each operation by ``document_common_answers`` so the schema and the API agree (the fuzzer,
# tests/fuzz, checks every status, content type and body against it).

API_PREFIX = "/api/v1/"
LOGIN_PATH = "/api/v1/auth/token/"
PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
BODY_METHODS = frozenset({"post", "put", "patch"})
# Operations behind a rate limit (429 with Retry-After): logins, bids, uploads.
THROTTLED = frozenset(
    {
        ("post", LOGIN_PATH),
        ("post", "/api/v1/auctions/{id}/bids/"),
        ("post", "/api/v1/packages/{id}/loan-tape/"),
    }
)
# Why each status can answer any operation it is added to.
COMMON_REASONS = {
    400: "a NUL character in a query parameter or header (`invalid_value`), a malformed or too "
    "deeply nested JSON body, an empty or over-long `Idempotency-Key`, or an invalid filter",
    401: "no token, or an invalid, expired or revoked one",
    404: "a page past the last one, or page 0 (`?page=0`)",
    413: "a request body over the size limit (`payload_too_large`)",
    415: "a body of a media type the operation does not read",
    429: "too many requests; `Retry-After` says when to retry (`throttled`)",
    503: "the database or broker is unreachable (`service_unavailable`); retry later",
}
# Request strings may hold no NUL (PostgreSQL stores none; DRF's CharField refuses it).
NO_NUL_PATTERN = "^[^\\u0000]*$"
CSV_MEDIA_TYPE = "text/csv"


def _problem_answer(status: int) -> dict[str, Any]:
    return {
        "description": f"{status_description(status)} Also: {COMMON_REASONS[status]}.",
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }


def _is_paginated(operation: dict[str, Any]) -> bool:
    ok = operation.get("responses", {}).get("200", {})
    ref = ok.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return str(ref).startswith("#/components/schemas/Paginated")


def _query_params(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}


def _common_statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    statuses = [400, 503]
    if path != LOGIN_PATH:
        statuses.append(401)
    if method in BODY_METHODS:
        statuses.append(413)
        if "requestBody" in operation:
            statuses.append(415)
    if _is_paginated(operation):
        statuses.append(404)
    if (method, path) in THROTTLED:
        statuses.append(429)
    return statuses


def _document_pages(operation: dict[str, Any]) -> None:
    """Pages start at 1 (a page past the last, or 0, is 404); ``page_size`` at most 200."""
    params = _query_params(operation)
    page = params.get("page")
    if page is None:
        page = {"in": "query", "name": "page", "required": False}
        operation.setdefault("parameters", []).append(page)
    page["schema"] = {"type": "integer", "minimum": 1}
    page["description"] = "A page number within the paginated result set, from 1."
    if "page_size" not in params:
        operation["parameters"].append(
            {
                "in": "query",
                "name": "page_size",
                "required": False,
                "schema": {"type": "integer"},
                "description": "Number of results to return per page (at most 200).",
            }
        )


def _document_csv(operation: dict[str, Any]) -> None:
    fmt = _query_params(operation).get("format")
    if fmt is None or "csv" not in fmt.get("schema", {}).get("enum", []):
        return
    ok = operation["responses"]["200"]
    ok.setdefault("content", {})[CSV_MEDIA_TYPE] = {"schema": {"type": "string"}}
    ok["description"] = (ok.get("description") or "OK.") + (
        " With `?format=csv`: every matching row as text/csv, streamed."
    )


def _forbid_nul(schema: dict[str, Any]) -> None:
    """Free-text strings (no enum, format or pattern of their own) get the NUL-free pattern."""
    if schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema):
        schema["pattern"] = NO_NUL_PATTERN
    for child in schema.get("properties", {}).values():
        _forbid_nul(child)
    if isinstance(schema.get("items"), dict):
        _forbid_nul(schema["items"])


def document_common_answers(
    result: dict[str, Any], generator: object, request: object, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: on every API operation, the problem+json answers
    that middleware and parsers give (400, 401, 413, 415, 503, 429 where limited, 404 past the
    last page), page bounds, the CSV answer of ``?format=csv``, and no NUL in request strings."""
    for path, path_item in result.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in path_item.items():
            if method not in BODY_METHODS | {"get", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in _common_statuses(path, method, operation):
                responses.setdefault(str(status), _problem_answer(status))
            if _is_paginated(operation):
                _document_pages(operation)
            _document_csv(operation)
            for param in operation.get("parameters", []):
                _forbid_nul(param.get("schema", {}))
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _forbid_nul(component)
    return result


# ----------------------------------------------------------------- links (stateful clients)
# An object created or listed by one operation is the `{id}` of the operations under it: POST
# /packages/ (201) -> /packages/{id}/..., GET /packages/ (200) -> the first result's. Declared as
# OpenAPI links so that clients and the fuzzer's stateful phase can chain calls.

# Operations whose answer names an object of another collection than their own path's.
EXTRA_LINK_SOURCES = {
    "/api/v1/registrations/": [
        ("post", "/api/v1/auctions/{id}/registrations/"),
        ("get", "/api/v1/auctions/{id}/registrations/"),
    ],
    "/api/v1/settlements/": [("post", "/api/v1/settlements/{id}/offer-runner-up/")],
}


def _link_sources(paths: dict[str, Any], collection: str) -> list[tuple[dict[str, Any], str]]:
    """(response, JSON pointer of the id) of each operation that names an object of
    ``collection``: its POST's 201 body, its list's first result."""
    pairs = [("post", collection), ("get", collection), *EXTRA_LINK_SOURCES.get(collection, [])]
    sources = []
    for method, path in pairs:
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue
        if method == "post" and "201" in operation["responses"]:
            sources.append((operation["responses"]["201"], "$response.body#/id"))
        elif method == "get" and _is_paginated(operation):
            sources.append((operation["responses"]["200"], "$response.body#/results/0/id"))
    return sources


def add_links(
    result: dict[str, Any], generator: object, request: object, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: OpenAPI links from the operations that create or
    list an object to the operations on that object."""
    paths: dict[str, Any] = result.get("paths", {})
    for path, path_item in paths.items():
        if not path.startswith(API_PREFIX) or "/{id}/" not in path:
            continue
        collection = path[: path.index("{id}/")]
        for operation in path_item.values():
            target = operation.get("operationId") if isinstance(operation, dict) else None
            if target is None:
                continue
            for response, pointer in _link_sources(paths, collection):
                response.setdefault("links", {})[target] = {
                    "operationId": target,
                    "parameters": {"id": pointer},
                }
    return result

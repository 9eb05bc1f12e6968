"""The OpenAPI 3 schema at /api/v1/schema/ and Swagger UI at /api/docs/ (API.md, Conventions)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.views import SpectacularAPIView
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

SCHEMA = "/api/v1/schema/"
API_PREFIX = "/api/v1/"
PROBLEM_REF = "#/components/schemas/Problem"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _route(pattern) -> str:
    text = str(pattern).removeprefix("^").removesuffix("$")
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)  # regex routes (routers)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)  # path() routes


def _methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a ViewSet route
        return set(actions) & HTTP_METHODS
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return {m for m in HTTP_METHODS if hasattr(view_class, m)}


def api_operations() -> dict[str, set[str]]:
    """Every (path, methods) under /api/v1/ that marketplace/urls.py routes, in OpenAPI form."""
    found: dict[str, set[str]] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + _route(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                path = "/" + prefix + _route(pattern.pattern)
                view_class = getattr(pattern.callback, "cls", None)
                if not path.startswith(API_PREFIX) or "{format}" in path:
                    continue  # outside the API, or a router's `.json` suffix variant
                if view_class is not None and issubclass(view_class, SpectacularAPIView):
                    continue  # the schema does not describe itself
                path = path.replace("{pk}", "{id}")
                found.setdefault(path, set()).update(_methods(pattern.callback))

    walk(get_resolver().url_patterns, "")
    return found


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get(SCHEMA)
    assert response.status_code == 200, response.content
    assert "json" in response["Content-Type"]
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)  # raises on any violation of the OpenAPI 3 specification


def test_schema_is_served_as_yaml_on_request(api):
    response = api.get(SCHEMA, HTTP_ACCEPT="application/yaml")

    assert response.status_code == 200
    assert "yaml" in response["Content-Type"]
    assert response.content.startswith(b"openapi: 3.")


def test_url_walker_sees_the_known_routes():
    # Guards the next test against a walker that silently finds nothing.
    routes = api_operations()

    assert routes["/api/v1/auth/token/"] == {"post"}
    assert routes["/api/v1/organizations/"] == {"get", "post"}
    assert routes["/api/v1/organizations/{id}/members/"] == {"post"}
    assert routes["/api/v1/audit-events/"] == {"get"}
    assert routes["/api/v1/audit-events/verify/"] == {"get"}
    assert SCHEMA not in routes


def test_every_api_route_and_method_is_documented(schema):
    documented = {
        path: {m for m in item if m in HTTP_METHODS} for path, item in schema["paths"].items()
    }

    missing = {
        (path, method)
        for path, methods in api_operations().items()
        for method in methods
        if method not in documented.get(path, set())
    }

    assert missing == set()


def test_every_documented_api_path_is_routed(schema):
    routes = api_operations()

    stale = {p for p in schema["paths"] if p.startswith(API_PREFIX) and p not in routes}

    assert stale == set()


def test_problem_component_matches_the_error_format(schema):
    problem = schema["components"]["schemas"]["Problem"]

    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(problem["properties"])


def test_every_api_error_response_is_problem_json(schema):
    wrong = []
    for path, method, operation in operations(schema):
        if not path.startswith(API_PREFIX):
            continue
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        if "401" not in errors:
            wrong.append((path, method, "401 not documented"))
        for status, response in errors.items():
            content = response.get("content", {})
            if set(content) != {"application/problem+json"}:
                wrong.append((path, method, status, sorted(content)))
            elif content["application/problem+json"]["schema"].get("$ref") != PROBLEM_REF:
                wrong.append((path, method, status, "not the Problem schema"))

    assert wrong == []


def test_every_post_documents_the_idempotency_key(schema):
    # Keys are scoped to an organisation, so anonymous login is the one POST without them.
    posts = [
        (path, op)
        for path, method, op in operations(schema)
        if method == "post" and not path.endswith("/auth/token/")
    ]
    assert len(posts) >= 6
    login = next(op for path, method, op in operations(schema) if path.endswith("/auth/token/"))
    assert "Idempotency-Key" not in {p["name"] for p in login.get("parameters", [])}

    for path, operation in posts:
        headers = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "header"}
        assert "Idempotency-Key" in headers, path
        header = headers["Idempotency-Key"]
        assert header.get("required", False) is False, path
        assert header["schema"]["minLength"] == 1, path
        assert header["schema"]["maxLength"] == 255, path
        for status in ("409", "422"):
            assert status in operation["responses"], (path, status)
            content = operation["responses"][status]["content"]
            assert content["application/problem+json"]["schema"]["$ref"] == PROBLEM_REF


def test_gets_do_not_document_the_idempotency_key(schema):
    for _path, method, operation in operations(schema):
        if method == "get":
            names = {p["name"] for p in operation.get("parameters", [])}
            assert "Idempotency-Key" not in names


def test_audit_list_documents_its_filters_and_csv_format(schema):
    operation = schema["paths"]["/api/v1/audit-events/"]["get"]

    params = {p["name"] for p in operation["parameters"] if p["in"] == "query"}

    assert {
        "action",
        "object_type",
        "object_id",
        "organization",
        "occurred_after",
        "occurred_before",
        "page",
        "page_size",
        "ordering",
        "format",
    } <= params


def test_every_api_operation_but_login_requires_a_token(schema):
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")

    for path, method, operation in operations(schema):
        if not path.startswith(API_PREFIX):
            continue
        security = operation.get("security", schema.get("security", []))
        if path == "/api/v1/auth/token/":
            assert security in ([], [{}]), (path, method)
        else:
            assert {"tokenAuth": []} in security, (path, method)


def test_swagger_ui_is_served(api):
    response = api.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert SCHEMA in html


# ----------------------------------------------------------------- accuracy
# Component names are unique and path ids are typed as integers (schema generation runs the
# viewsets without a user; each get_queryset guards for that).


def generation_warnings() -> list[str]:
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator().get_schema(request=None, public=True)
    found = list(GENERATOR_STATS._warn_cache)
    GENERATOR_STATS.reset()
    return found


def test_no_two_serializers_share_a_component_name():
    collisions = [w for w in generation_warnings() if "identical names" in w]

    assert collisions == []


def test_path_ids_are_integers(schema):
    untyped = sorted(
        (path, method)
        for path, method, operation in operations(schema)
        for param in operation.get("parameters", [])
        if param["in"] == "path" and param["name"] == "id"
        if param["schema"].get("type") != "integer"
    )

    assert untyped == []

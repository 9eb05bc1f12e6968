"""Every (method, route) the project serves, read from the URL map (``get_resolver()``), in the
form the matrix writes them: ``("GET", "/api/v1/packages/{pk}/loans/")``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Served by Django's admin with its own session login (staff only), not the token API; the
# matrix checks one of its pages (an anonymous request is sent to its login form).
OUTSIDE_THE_MATRIX = ("/admin/",)


def route_of(pattern: Any) -> str:
    """A URL pattern as text with ``{name}`` for each parameter (router regexes and path())."""
    text = str(pattern).removeprefix("^").removesuffix("$")
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)


def methods_of(callback: Any) -> set[str]:
    """The HTTP methods a view answers (HEAD and OPTIONS follow GET and the view's rules)."""
    actions = getattr(callback, "actions", None)
    if actions:  # a ViewSet route: method -> action
        return {m.upper() for m in actions} & set(HTTP_METHODS)
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:  # a function view answers whatever it is sent
        return {"GET"}
    allowed = {m.upper() for m in getattr(view_class, "http_method_names", [])}
    return {m for m in HTTP_METHODS if m in allowed and hasattr(view_class, m.lower())}


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + route_of(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield "/" + prefix + route_of(pattern.pattern), pattern.callback


def served_operations() -> set[tuple[str, str]]:
    """Every (method, route) of the URL map, outside ``OUTSIDE_THE_MATRIX``."""
    return {
        (method, route)
        for route, callback in _walk(get_resolver().url_patterns, "")
        if not route.startswith(OUTSIDE_THE_MATRIX)
        for method in methods_of(callback)
    }

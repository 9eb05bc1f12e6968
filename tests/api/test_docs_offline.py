"""Swagger UI at /api/docs/ works offline and cannot change under us (issue 11, item 10): its
files come from drf-spectacular-sidecar (pinned) and are served by the app, where they were
loaded from a public CDN at ``@latest``."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

# Every URL the page refers to: attributes and string literals of its inline script.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|["']((?:https?:)?//[^"']+)["']""")


def references(html: str) -> set[str]:
    return {a or b for a, b in REFERENCE.findall(html)}


def test_the_docs_page_refers_to_no_external_host(api):
    response = api.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    urls = references(html)
    assert urls, html  # the page does load assets
    external = {u for u in urls if re.match(r"(?:https?:)?//", u)}
    assert not external, external
    assert "cdn" not in html.lower()


def test_the_assets_the_page_loads_are_served(api):
    html = api.get("/api/docs/").content.decode()
    assets = {u for u in references(html) if u.startswith("/static/")}

    assert any(u.endswith("swagger-ui-bundle.js") for u in assets), assets
    for url in assets:
        response = api.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content), url

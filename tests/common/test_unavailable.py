"""The database unreachable is a 503 problem+json with ``Retry-After``, never a 500: from a DRF
view (the exception handler), a plain Django view (the middleware) and a middleware (handler500).
The real outage (PostgreSQL restarted under a running stack) is tests/faults/test_outages.py."""

from __future__ import annotations

import pytest
from django.contrib.auth.views import LoginView
from django.db import InterfaceError, OperationalError

from marketplace.accounts.api import MeView
from marketplace.common.middleware import RequestSizeLimitMiddleware
from tests.support import assert_problem

pytestmark = pytest.mark.django_db

LOST = [
    OperationalError("server closed the connection unexpectedly"),
    InterfaceError("connection already closed"),
]


def _raise(exc):
    def view(*args, **kwargs):
        raise exc

    return view


def _assert_unavailable(response) -> None:
    body = assert_problem(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"
    assert "server closed" not in body["detail"] and "Traceback" not in response.content.decode()


@pytest.mark.parametrize("exc", LOST, ids=["operational", "interface"])
def test_a_drf_view_answers_503_when_the_database_is_gone(admin_client, monkeypatch, exc):
    monkeypatch.setattr(MeView, "get", _raise(exc))
    admin_client.raise_request_exception = False

    _assert_unavailable(admin_client.get("/api/v1/me/"))


def test_a_plain_django_view_answers_503_too(client, monkeypatch):
    monkeypatch.setattr(LoginView, "get", _raise(LOST[0]))
    client.raise_request_exception = False

    _assert_unavailable(client.get("/admin/login/"))


def test_an_error_in_a_middleware_answers_503_too(client, monkeypatch):
    monkeypatch.setattr(RequestSizeLimitMiddleware, "__call__", _raise(LOST[1]))
    client.raise_request_exception = False

    _assert_unavailable(client.get("/healthz"))


def test_other_errors_stay_a_500(admin_client, monkeypatch):
    monkeypatch.setattr(MeView, "get", _raise(RuntimeError("bug")))
    admin_client.raise_request_exception = False

    assert_problem(admin_client.get("/api/v1/me/"), 500, "server_error")

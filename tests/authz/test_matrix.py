"""Drives the authorization matrix (``tests/authz/matrix.py``) through HTTP: every row for every
role, in one fixture world built once; each cell runs in a savepoint rolled back after it, so
every cell sees the same world whatever the others did.

A (method, route) of the URL map without a row fails ``test_every_served_endpoint_has_a_row``,
naming the missing rows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from marketplace.accounts.services import token_issue
from tests.authz.matrix import LISTINGS, ROWS, Row
from tests.authz.urlmap import served_operations
from tests.authz.world import ANONYMOUS, ROLES, World, build_world

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
CODE_BY_STATUS = {401: "not_authenticated", 404: "not_found"}
# A 403 says why: the generic code, or a domain one the endpoint documents.
FORBIDDEN_CODES = {
    "permission_denied",
    "nda_required",
    "not_registered",
    "buyer_not_eligible",
    "deposit_not_confirmed",
}
GHOST_ID = 987_654_321


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[World]:
    """Built once for the module inside a transaction rolled back at its end; each test's own
    transaction is a savepoint inside it."""
    data_dir = tmp_path_factory.mktemp("authz-data")
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        django_db_blocker.unblock(),
        override_settings(DATA_DIR=data_dir, PASSWORD_HASHERS=hashers),
    ):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            world = build_world()
            world.objects["tokens"] = {
                role: token_issue(user=user)[1] for role, user in world.users.items()
            }
            yield world
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def call(world):
    """``call(row, role, **ids)``: the row's request as ``role`` (uploads land in the world's
    DATA_DIR, set for the whole module)."""

    def request(row: Row, role: str, **ids: int) -> Any:
        client = APIClient()
        if role != ANONYMOUS:
            client.credentials(HTTP_AUTHORIZATION=f"Token {world.objects['tokens'][role]}")
        path = row.route.format(
            **{p: ids.get(p, _target(world, name)) for p, name in row.targets.items()}
        )
        body = row.body(world) if callable(row.body) else row.body
        send = getattr(client, row.method.lower())
        if body is None:
            return send(path + row.query)
        return send(path + row.query, body, format=row.format)

    return request


def _target(world: World, name: str) -> object:
    """A world object's id, or a literal (``"=text"``) for a parameter that names no object."""
    return name[1:] if name.startswith("=") else world.objects[name].pk


def _cells() -> list[Any]:
    return [pytest.param(r, role, id=f"{r.id}-{role}") for r in ROWS for role in ROLES]


def _problem(response) -> dict[str, Any]:
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    return json.loads(response.content)


def _listed(world: World, row: Row, response) -> set[str]:
    listing = LISTINGS[row.route]
    body = json.loads(b"".join(response) if response.streaming else response.content)
    ids = [listing.item_id(item) for item in listing.results(body)]
    return world.names(listing.model, ids)


@pytest.mark.parametrize(("row", "role"), _cells())
def test_cell(world, call, row: Row, role: str):
    expected = row.expected(role)

    response = call(row, role)

    assert response.status_code == expected, (row.id, role, response.status_code, response)
    if expected >= 400:
        code = _problem(response)["code"]
        if expected == 403:
            assert code in FORBIDDEN_CODES, code
        elif expected in CODE_BY_STATUS:
            assert code == CODE_BY_STATUS[expected], code
    if expected == 401:  # the API's scheme first (/metrics also offers a Prometheus bearer)
        assert response["WWW-Authenticate"].split(",")[0] == "Token"
    if row.sees is not None and expected == 200:
        assert _listed(world, row, response) == row.sees[role]


_OBJECT_ROWS = [r for r in ROWS if r.targets and not r.static]


@pytest.mark.parametrize("row", _OBJECT_ROWS, ids=[r.id for r in _OBJECT_ROWS])
def test_a_missing_object_is_not_found(world, call, row: Row):
    """The same request aimed at an id that does not exist: 401 without a token, else 404, or
    the 403 of a role that may never make the request (refused before any lookup)."""
    ghost = dict.fromkeys(row.targets, GHOST_ID)
    answers = {role: call(row, role, **ghost).status_code for role in ROLES}

    expected = {
        role: 401 if role == ANONYMOUS else (403 if row.expected(role) == 403 else 404)
        for role in ROLES
    }
    # A 403 of the real object may come after the lookup (the caller sees the object but may
    # not act on it): then the missing one is a 404.
    for role, status in answers.items():
        if expected[role] == 403 and status == 404:
            expected[role] = 404
    assert answers == expected


def _normal(route: str) -> str:
    return re.sub(r"\{\w+\}", "{}", route)


def test_every_served_endpoint_has_a_row():
    covered = {(r.method, _normal(r.route)) for r in ROWS}
    served = {(m, _normal(route)) for m, route in served_operations()}

    missing = sorted(served - covered)
    stale = sorted(covered - served)

    assert not missing, "rows missing from tests/authz/matrix.py: " + ", ".join(
        f"{m} {route}" for m, route in missing
    )
    assert not stale, "rows for routes the URL map does not serve: " + ", ".join(
        f"{m} {route}" for m, route in stale
    )


def test_every_row_names_a_status_per_role_and_real_targets(world):
    for r in ROWS:
        assert len(r.expect) == len(ROLES), r.id
        assert set(r.targets) == set(re.findall(r"\{(\w+)\}", r.route)), r.id
        assert all(n in world.objects or n.startswith("=") for n in r.targets.values()), r.id
        if r.sees is not None:
            assert r.route in LISTINGS, r.id
            answered = {role for role in ROLES if r.expected(role) == 200}
            assert set(r.sees) == answered, r.id


def test_the_admin_site_sends_token_callers_to_its_own_login(world, call):
    admin = Row("GET", "/admin/", tuple(302 for _ in ROLES))
    for role in ROLES:
        response = call(admin, role)
        assert response.status_code == 302, role
        assert response["Location"].startswith("/admin/login/"), role

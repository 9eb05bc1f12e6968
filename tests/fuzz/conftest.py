"""Fixtures of the API fuzzing (tests/fuzz): the marketplace the fuzzer drives
(``world.build_world``), built once per module inside a transaction that is rolled back at the
end, so each test (one operation as one role) starts from the same marketplace and leaves
nothing behind; and requests served in process by Django's WSGI handler."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from django.core import signals
from django.db import close_old_connections, transaction
from django.test.utils import override_settings

from tests.fuzz.world import World, build_world


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker) -> Iterator[World]:
    with (
        tempfile.TemporaryDirectory(prefix="fuzz-") as data_dir,
        override_settings(
            DATA_DIR=data_dir,
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        world = build_world()
        try:
            yield world
        finally:
            transaction.set_rollback(True)


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests go through Django's WSGI handler in the test's thread and transaction; as the
    test client does, keep a request's start and end from closing the connection."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (signals.request_started, signals.request_finished):
            signal.connect(close_old_connections)

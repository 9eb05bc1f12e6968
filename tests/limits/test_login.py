"""Login limits (marketplace.accounts.login_guard) through the token endpoint, on real Redis:
failures per username and per address, the bounded lockout, trusted addresses, concurrency with
real threads, and the fail-closed answer when Redis is down."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.support import PASSWORD, assert_problem

TOKEN = "/api/v1/auth/token/"


def attempt(username: str, password: str, address: str = "10.0.0.1", client=None):
    client = client or APIClient()
    return client.post(
        TOKEN, {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


@pytest.fixture
def victim(buyer_org):
    return UserFactory(organization=buyer_org, role="bidder", username="victim")


def test_400_wrong_passwords_in_a_row_are_not_all_answered_401(victim):
    """The finding of issue 11: 400 wrong passwords in a row were all answered 401."""
    statuses = [attempt("victim", f"guess-{n}").status_code for n in range(400)]

    assert statuses[:5] == [401] * 5  # LOGIN_FAILURES_PER_USERNAME default: 5 per 15 min
    assert set(statuses[5:]) == {429}
    refused = attempt("victim", "guess-x")
    body = assert_problem(refused, 429, "throttled")
    assert "locked" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60  # the first lockout: LOGIN_LOCKOUT_SECONDS
    # Locked means locked: the right password is not even checked.
    assert attempt("victim", PASSWORD).status_code == 429


def test_successful_logins_do_not_count(victim, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = "3/min"
    settings.LOGIN_FAILURES_PER_USERNAME = "3/min"

    assert all(attempt("victim", PASSWORD).status_code == 200 for _ in range(10))
    assert [attempt("victim", "wrong").status_code for _ in range(4)] == [401, 401, 401, 429]


def test_failures_per_address_across_usernames(db, settings):
    """Spraying many usernames from one address is bounded by the address's limit."""
    settings.LOGIN_FAILURES_PER_ADDRESS = "4/min"

    statuses = [attempt(f"user-{n}", "pw", address="10.9.9.9").status_code for n in range(10)]

    assert statuses == [401] * 4 + [429] * 6
    body = assert_problem(attempt("someone", "pw", address="10.9.9.9"), 429, "throttled")
    assert "address" in body["detail"]
    # Another address is not affected.
    assert attempt("user-0", "pw", address="10.9.9.10").status_code == 401


def test_lockout_expires_and_escalates_up_to_its_cap(victim, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = "2/min"
    settings.LOGIN_LOCKOUT_SECONDS = 1
    settings.LOGIN_LOCKOUT_MAX_SECONDS = 2

    def lock() -> int:
        assert [attempt("victim", "wrong").status_code for _ in range(2)] == [401, 401]
        refused = attempt("victim", PASSWORD)
        assert refused.status_code == 429
        return int(refused["Retry-After"])

    assert lock() == 1  # first lockout: the base
    time.sleep(1.2)
    assert lock() == 2  # doubled
    time.sleep(2.2)
    assert lock() == 2  # capped
    time.sleep(2.2)
    assert attempt("victim", PASSWORD, address="10.0.0.2").status_code == 200  # expired


def test_an_attacker_cannot_lock_the_victim_out_of_a_known_address(victim, settings):
    """The victim's usual address has a scope of its own once it logged in successfully."""
    assert attempt("victim", PASSWORD, address="192.0.2.10").status_code == 200  # the office

    attacker = [attempt("victim", f"g{n}", address="198.51.100.7").status_code for n in range(8)]
    assert attacker == [401] * 5 + [429] * 3

    assert attempt("victim", PASSWORD, address="192.0.2.10").status_code == 200
    # Unknown addresses share the locked scope, the attacker's included.
    assert attempt("victim", PASSWORD, address="203.0.113.5").status_code == 429
    assert attempt("victim", PASSWORD, address="198.51.100.7").status_code == 429
    # The known address's own failures still count, in its own scope.
    office = [attempt("victim", "typo", address="192.0.2.10").status_code for _ in range(6)]
    assert office == [401] * 5 + [429]


def test_the_address_is_read_from_x_forwarded_for_only_behind_declared_proxies(db, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = "2/min"
    client = APIClient()
    forged = [
        client.post(
            TOKEN,
            {"username": f"u{n}", "password": "pw"},
            format="json",
            REMOTE_ADDR="10.1.1.1",
            HTTP_X_FORWARDED_FOR=f"172.16.0.{n}",
        ).status_code
        for n in range(3)
    ]
    assert forged == [401, 401, 429]  # NUM_PROXIES=0: a forged header changes nothing

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxied = [
        client.post(
            TOKEN,
            {"username": f"u{n}", "password": "pw"},
            format="json",
            REMOTE_ADDR="10.1.1.1",
            HTTP_X_FORWARDED_FOR=f"172.16.0.{n}",
        ).status_code
        for n in range(3)
    ]
    assert proxied == [401, 401, 401]  # each forwarded address counts on its own


def test_login_fails_closed_when_redis_is_down(victim, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there

    response = attempt("victim", PASSWORD)

    assert_problem(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_never_get_more_guesses_than_the_limit(buyer_org, settings):
    """40 threads guess one username at once: exactly the limit's 5 passwords are checked."""
    UserFactory(organization=buyer_org, role="bidder", username="victim")
    threads_count = 40
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        client = APIClient()
        barrier.wait()
        try:
            status = attempt("victim", f"guess-{n}", address=f"10.2.0.{n}", client=client)
        finally:
            connection.close()
        with lock:
            statuses.append(status.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert len(statuses) == threads_count
    assert statuses.count(401) == 5
    assert statuses.count(429) == threads_count - 5


def test_ipv6_clients_are_counted_by_their_64_network(db, settings):
    """An attacker rotating through the addresses of one IPv6 /64 is one client."""
    settings.LOGIN_FAILURES_PER_ADDRESS = "3/min"
    statuses = [
        attempt(f"user-{n}", "pw", address=f"2001:db8:1:2::{n + 1:x}").status_code for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert attempt("user-x", "pw", address="2001:db8:1:3::1").status_code == 401  # next /64

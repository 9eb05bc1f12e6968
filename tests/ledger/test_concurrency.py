"""Postings take no global lock (DESIGN.md, Concurrency): concurrent first postings to the same
account create it once, and a posting never waits for another transaction that is still
posting. Real threads, each with its own connection, against the real PostgreSQL."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from marketplace.ledger import movements
from marketplace.ledger.models import Account, AccountKind, Entry
from marketplace.ledger.services import balance_of
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
JOIN_TIMEOUT = 60


def test_concurrent_first_postings_create_each_account_once(platform_org):
    buyers = [OrganizationFactory(kind="buyer") for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def post(n: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                movements.deposit_held(
                    buyer_id=buyers[n].pk, amount=Decimal("100.00"), registration_id=n + 1
                )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)

    assert not any(t.is_alive() for t in threads), "a posting is stuck"
    assert errors == []
    assert Account.objects.filter(kind=AccountKind.PLATFORM_CASH).count() == 1
    assert (
        balance_of(organization_id=platform_org.pk, account=AccountKind.PLATFORM_CASH)
        == Decimal("100.00") * THREADS
    )
    assert Entry.objects.count() == 2 * THREADS


def test_a_posting_does_not_wait_for_another_open_transaction(platform_org):
    first, second = OrganizationFactory(kind="buyer"), OrganizationFactory(kind="buyer")
    with transaction.atomic():  # the platform's cash account exists, as it does after day one
        movements.deposit_held(buyer_id=first.pk, amount=Decimal("1.00"), registration_id=1)
    posted, release = threading.Event(), threading.Event()

    def hold_open() -> None:
        try:
            with transaction.atomic():
                movements.deposit_held(buyer_id=first.pk, amount=Decimal("5.00"), registration_id=2)
                posted.set()
                release.wait(JOIN_TIMEOUT)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_open, daemon=True)
    holder.start()
    try:
        assert posted.wait(JOIN_TIMEOUT)
        with transaction.atomic():
            with connection.cursor() as cursor:  # waiting on any lock would fail, not hang
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            movements.deposit_held(buyer_id=second.pk, amount=Decimal("7.00"), registration_id=3)
    finally:
        release.set()
        holder.join(JOIN_TIMEOUT)

    assert balance_of(organization_id=second.pk, account=AccountKind.DEPOSITS_HELD) == Decimal(
        "-7.00"
    )
    assert balance_of(
        organization_id=platform_org.pk, account=AccountKind.PLATFORM_CASH
    ) == Decimal("13.00")

"""The database itself refuses an unbalanced ledger transaction (at commit) and any change to an
entry (DESIGN.md invariant 4): a bug that bypasses the services cannot write either."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from marketplace.ledger.models import AccountKind, Entry
from marketplace.ledger.services import account_for
from tests.factories import EntryFactory, OrganizationFactory

INSERT = """
INSERT INTO ledger_entry (transaction_id, account_id, organization_id, amount, kind,
                          currency, created_at)
VALUES (%s, %s, %s, %s, 'deposit_held', %s, %s)
"""


def _raw_insert(txn: uuid.UUID, org_id: int, amount: str, currency: str = "CNY") -> None:
    account = account_for(organization_id=org_id, kind=AccountKind.DEPOSITS_HELD, currency=currency)
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [txn, account.pk, org_id, amount, currency, timezone.now()])


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_transaction_is_refused_at_commit():
    org = OrganizationFactory(kind="buyer")
    txn = uuid.uuid4()

    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        _raw_insert(txn, org.pk, "100.00")
        _raw_insert(txn, org.pk, "-99.99")
        # Inside the transaction the half-written posting is allowed (the check is deferred)...
        assert Entry.objects.filter(transaction_id=txn).count() == 2

    # ... and at commit the whole transaction is refused: nothing was written.
    assert not Entry.objects.filter(transaction_id=txn).exists()


@pytest.mark.django_db(transaction=True)
def test_a_balanced_raw_transaction_commits():
    org = OrganizationFactory(kind="buyer")
    txn = uuid.uuid4()

    with transaction.atomic():
        _raw_insert(txn, org.pk, "100.00")
        _raw_insert(txn, org.pk, "-100.00")

    assert Entry.objects.filter(transaction_id=txn).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_transaction_mixing_currencies_is_refused_at_commit():
    org = OrganizationFactory(kind="buyer")
    txn = uuid.uuid4()

    with pytest.raises(IntegrityError, match="mixes currencies"), transaction.atomic():
        _raw_insert(txn, org.pk, "100.00", currency="CNY")
        _raw_insert(txn, org.pk, "-100.00", currency="USD")


@pytest.mark.django_db
def test_the_deferred_check_fires_when_constraints_are_made_immediate():
    org = OrganizationFactory(kind="buyer")
    _raw_insert(uuid.uuid4(), org.pk, "5.00")

    with pytest.raises(IntegrityError, match="unbalanced"), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entry SET amount = amount + 1 WHERE id = %s",
        "DELETE FROM ledger_entry WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_entries_are_append_only(statement):
    entry = EntryFactory()

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [entry.pk])

    assert Entry.objects.get(pk=entry.pk).amount == entry.amount


@pytest.mark.django_db(transaction=True)
def test_truncate_is_refused():
    entry = EntryFactory()

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE ledger_entry CASCADE")

    assert Entry.objects.filter(pk=entry.pk).exists()


@pytest.mark.django_db
def test_the_orm_cannot_edit_an_entry_either():
    entry = EntryFactory()
    entry.amount = Decimal("1.00")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.save()

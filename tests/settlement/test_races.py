"""Races on one settlement with real threads against the real PostgreSQL: the settlement's row
lock decides, so a payment is taken once and a settlement is paid or defaulted, never both.
These tests commit; ``sent_tasks`` keeps the transfer message from the broker."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from marketplace.common.errors import DomainError
from marketplace.ledger.models import Entry
from settlement.defaults import settlement_default
from settlement.models import Settlement
from settlement.payments import TRANSFER_TASK, settlement_confirm_payment
from tests.settlement.conftest import make_overdue

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
JOIN_TIMEOUT = 60


def race(*targets) -> tuple[list[object], list[BaseException]]:
    """Run each target in its own thread at once; what each returned, what each raised."""
    barrier = threading.Barrier(len(targets))
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(target) -> None:
        try:
            barrier.wait(timeout=30)
            outcome = target()
            with lock:
                results.append(outcome)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results, errors


def test_concurrent_confirmations_take_the_payment_once(three_bidders, compliance_user, sent_tasks):
    settlement = three_bidders.settlement

    def confirm() -> str:
        return settlement_confirm_payment(
            actor=compliance_user,
            settlement_id=settlement.pk,
            amount="8600000.00",
            reference="R-1",
        ).status

    results, errors = race(*[confirm] * THREADS)

    assert results == ["paid"]
    assert len(errors) == THREADS - 1
    assert {getattr(e, "code", repr(e)) for e in errors} == {"invalid_state"}
    assert Entry.objects.filter(kind="payment_received", amount__lt=0).count() == 1
    assert sent_tasks == [(TRANSFER_TASK, [settlement.pk])]


def test_a_payment_racing_the_default_sweep_either_pays_or_defaults(
    three_bidders, compliance_user, sent_tasks
):
    settlement = three_bidders.settlement
    make_overdue(settlement)

    def confirm() -> str:
        return settlement_confirm_payment(
            actor=compliance_user, settlement_id=settlement.pk, amount="8600000.00", reference="R"
        ).status

    def default() -> bool:
        return settlement_default(settlement_id=settlement.pk)

    results, errors = race(confirm, default)

    status = Settlement.objects.get(pk=settlement.pk).status
    paid = Entry.objects.filter(kind="payment_received").exists()
    forfeited = Entry.objects.filter(kind="deposit_forfeited").exists()
    if status == "paid":  # the payment took the lock first; the sweep found it paid
        assert sorted(map(str, results)) == ["False", "paid"] and errors == []
        assert paid and not forfeited
    else:  # the default went first; the payment is refused
        assert status == "defaulted" and results == [True]
        assert [getattr(e, "code", None) for e in errors] == ["invalid_state"]
        assert isinstance(errors[0], DomainError)
        assert forfeited and not paid

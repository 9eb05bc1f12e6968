"""Transfer of ownership (DESIGN.md invariant 5): a paid settlement's loans all pass to its buyer
in one transaction with exactly one registry record, whose digest anyone can recompute."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction

from bidding.services.auctions import AuctionTerms, auction_create
from listings.models import Loan, Package
from marketplace.audit.models import AuditEvent
from marketplace.celery import app as celery_app
from marketplace.common.errors import DomainError
from marketplace.ledger.models import Entry
from settlement import transfers
from settlement.models import Settlement, Transfer
from settlement.tasks import loans_transfer_sweep
from settlement.transfers import loans_transfer, settlements_awaiting_transfer
from tests.factories import SettlementFactory, TransferFactory
from tests.settlement.conftest import digest_of, paid_settlement_of
from tests.support import CUT_OFF, assert_problem, client_for

pytestmark = pytest.mark.django_db


def actions(settlement: Settlement, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(stream=f"settlement:{settlement.pk}", action=action))


def test_every_loan_passes_to_the_buyer_with_one_registry_record(seller_user, tape_storage):
    settlement = paid_settlement_of(seller_user)
    package = Package.objects.get(pk=settlement.package_id)

    transfer = loans_transfer(settlement_id=settlement.pk)

    assert transfer is not None
    loans = Loan.objects.filter(package=package)
    assert loans.count() == 5
    assert set(loans.values_list("owner_id", "transfer_id")) == {(settlement.buyer_id, transfer.pk)}
    assert (transfer.package_id, transfer.seller_id, transfer.buyer_id) == (
        package.pk,
        settlement.seller_id,
        settlement.buyer_id,
    )
    assert transfer.settlement_id == settlement.pk and transfer.price == settlement.price
    assert transfer.loan_count == package.loan_count == 5
    assert transfer.total_balance == package.total_balance
    assert transfer.digest == digest_of(list(loans.values_list("loan_id", "balance")))
    package.refresh_from_db()
    settlement.refresh_from_db()
    assert package.status == "sold"
    assert settlement.status == "completed"
    assert settlement.completed_at == transfer.transferred_at


def test_the_audit_trail_carries_the_digest_and_the_payout(seller_user, tape_storage):
    settlement = paid_settlement_of(seller_user)

    transfer = loans_transfer(settlement_id=settlement.pk)

    assert transfer is not None
    [transferred] = actions(settlement, "loans.transferred")
    assert transferred.data["digest"] == transfer.digest
    assert transferred.data["loan_count"] == 5
    assert Decimal(transferred.data["total_balance"]) == transfer.total_balance
    assert transferred.data["transfer_id"] == transfer.pk
    [paid_out] = actions(settlement, "seller.paid_out")
    assert Decimal(paid_out.data["amount"]) == settlement.price
    assert paid_out.data["seller_id"] == settlement.seller_id
    payouts = Entry.objects.filter(settlement_id=settlement.pk, kind="seller_payout")
    assert {str(t) for t in payouts.values_list("transaction_id", flat=True)} == {
        paid_out.data["ledger_transaction_id"]
    }
    assert sum(payouts.values_list("amount", flat=True)) == 0
    sold = AuditEvent.objects.filter(
        stream=f"package:{settlement.package_id}", action="package.sell"
    )
    assert [e.data["to"] for e in sold] == ["sold"]


def test_the_digest_orders_loan_ids_by_bytes_not_by_locale(seller_user, tape_storage):
    # Byte order puts upper case before lower case and "-" before digits; a locale would not.
    ids = ["cn-10", "CN-b", "CN-A", "cn-9", "CN-é1", "CN-_1", "CN-1"]
    settlement = paid_settlement_of(seller_user, loan_ids=ids)

    transfer = loans_transfer(settlement_id=settlement.pk)

    assert transfer is not None
    pairs = list(Loan.objects.filter(transfer_id=transfer.pk).values_list("loan_id", "balance"))
    assert transfer.digest == digest_of(pairs)
    assert transfer.digest != digest_of(pairs, order=lambda p: p[0].lower())


def test_a_second_run_transfers_nothing_and_writes_nothing(seller_user, tape_storage):
    settlement = paid_settlement_of(seller_user)
    first = loans_transfer(settlement_id=settlement.pk)
    events = AuditEvent.objects.count()

    again = loans_transfer(settlement_id=settlement.pk)

    assert first is not None and again is None
    assert Transfer.objects.filter(settlement=settlement).count() == 1
    assert AuditEvent.objects.count() == events
    assert Entry.objects.filter(settlement_id=settlement.pk, kind="seller_payout").count() == 4
    assert set(
        Loan.objects.filter(package_id=settlement.package_id).values_list("transfer_id", flat=True)
    ) == {first.pk}


def test_an_unpaid_settlement_is_not_transferred(auction_awarded):
    settlement = Settlement.objects.get(auction=auction_awarded)

    assert loans_transfer(settlement_id=settlement.pk) is None

    assert not Transfer.objects.exists()
    assert not Loan.objects.filter(package_id=settlement.package_id, owner__isnull=False).exists()
    settlement.refresh_from_db()
    assert settlement.status == "awaiting_payment"
    assert Package.objects.get(pk=settlement.package_id).status == "in_auction"


def test_a_failure_midway_leaves_nothing_transferred(seller_user, tape_storage, monkeypatch):
    settlement = paid_settlement_of(seller_user)

    def ledger_down(**kwargs):
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(transfers, "seller_payout", ledger_down)
    with pytest.raises(RuntimeError):
        loans_transfer(settlement_id=settlement.pk)

    assert not Transfer.objects.exists()
    assert not Loan.objects.filter(package_id=settlement.package_id, owner__isnull=False).exists()
    settlement.refresh_from_db()
    assert settlement.status == "paid" and settlement.completed_at is None
    assert Package.objects.get(pk=settlement.package_id).status == "in_auction"
    assert actions(settlement, "loans.transferred") == []


def test_the_service_may_run_inside_a_callers_transaction(seller_user, tape_storage):
    settlement = paid_settlement_of(seller_user)

    with transaction.atomic():
        transfer = loans_transfer(settlement_id=settlement.pk)

    assert transfer is not None
    assert Transfer.objects.get(settlement=settlement).pk == transfer.pk


def test_the_sweep_finds_paid_settlements_without_a_transfer(seller_user, tape_storage, settings):
    settings.TRANSFER_SWEEP_GRACE_SECONDS = 0
    paid = paid_settlement_of(seller_user)
    unpaid = SettlementFactory()
    done = TransferFactory().settlement

    found = list(settlements_awaiting_transfer())

    assert paid.pk in found
    assert unpaid.pk not in found and done.pk not in found


def test_the_sweep_leaves_a_just_paid_settlement_to_its_own_message(
    seller_user, tape_storage, settings
):
    settings.TRANSFER_SWEEP_GRACE_SECONDS = 300
    settlement = paid_settlement_of(seller_user)

    assert settlement.pk not in list(settlements_awaiting_transfer())


@pytest.fixture
def eager_tasks():
    """Tasks the code under test enqueues run at once, in this process (and this transaction)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def test_the_sweep_task_completes_what_it_finds(seller_user, tape_storage, settings, eager_tasks):
    settings.TRANSFER_SWEEP_GRACE_SECONDS = 0
    settlement = paid_settlement_of(seller_user)

    assert loans_transfer_sweep() == 1

    settlement.refresh_from_db()
    assert settlement.status == "completed"
    assert Transfer.objects.filter(settlement=settlement).count() == 1
    assert loans_transfer_sweep() == 0


def test_a_sold_package_is_never_auctioned_again(seller_user, tape_storage):
    transfer = TransferFactory(settlement=paid_settlement_of(seller_user))
    package = Package.objects.get(pk=transfer.package_id)
    assert package.status == "sold"
    terms = AuctionTerms(
        format="english",
        starts_at=transfer.transferred_at + dt.timedelta(hours=1),
        ends_at=transfer.transferred_at + dt.timedelta(hours=2),
        starting_price=Decimal("1000000.00"),
        min_increment=Decimal("10000.00"),
        reserve_price=None,
        deposit_amount=Decimal("50000.00"),
    )

    with pytest.raises(DomainError) as refused:
        auction_create(actor=package.created_by, package_id=package.pk, terms=terms)

    assert refused.value.code == "invalid_state"
    assert Package.objects.get(pk=package.pk).status == "sold"


def test_the_buyer_cannot_list_what_it_bought(seller_user, tape_storage):
    """Personal NPLs may not be resold: only a bank's disposal officer creates packages, so the
    buyer (an AMC) has no way to list the loans it bought."""
    transfer = TransferFactory(settlement=paid_settlement_of(seller_user))
    buyer = Settlement.objects.get(pk=transfer.settlement_id).bid.registration.registered_by
    assert buyer.organization_id == transfer.buyer_id

    response = client_for(buyer).post(
        "/api/v1/packages/",
        {"title": "Resale", "currency": "CNY", "cut_off_date": CUT_OFF.isoformat()},
        format="json",
    )

    assert_problem(response, 403, "permission_denied")
    assert not Package.objects.filter(seller_id=transfer.buyer_id).exists()

"""Property test of DESIGN.md invariant 4 over random histories (Hypothesis): registrations,
deposit confirmations, bids, closes and cancels on a few auctions, and payments, transfers,
defaults and runner-up offers of the settlements the closes opened, every one of them through
the product's own services: ``settlement_confirm_payment``, ``loans_transfer`` (called directly,
as the Celery task does), the default sweep ``settlements_default_due`` (after the test moves the
settlement's ``due_at`` into the past) and ``settlement_offer_runner_up``. Every auction ends;
each settlement may stay open, be paid, completed by its transfer or defaulted, and a default
may be offered to the runner-up, whose settlement goes the same ways. After every history:

- every ledger transaction sums to zero (and the deferred database check agrees),
- every buyer's ``deposits_held`` holds exactly confirmed minus released, applied and forfeited,
  as this test's own model of the history computes it (not as the ledger says), every
  confirmed deposit is in the state (held, released, applied, forfeited) the model gives it,
  and the seller's ``forfeited`` account holds what the model forfeited,
- each settlement is in the state the model expects; one awaiting payment owes its balance due
  and its seller's claim is the price, a paid one owes nothing, a completed or defaulted one
  leaves ``settlement_payable`` and ``seller_payable`` at zero,
- after a completed settlement, every loan of the package is owned by the buyer and stamped
  with the one ``Transfer`` that exists for it; no other settlement has a transfer, and loans of
  a package not sold have no owner; the package is sold, approved or in auction accordingly,
- ``verify_ledger`` finds nothing.

The services are also held to their refusals: a payment of the wrong amount, a payment or an
offer to the runner-up from the wrong state, a second transfer, a sweep with nothing due, all
change nothing. Each history runs in a savepoint rolled back at its end, over three auctions
(packages of two loans each) built once per test.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bidding.models import Auction, DepositStatus, Registration
from bidding.services.bids import bid_place
from bidding.services.closing import auction_cancel
from bidding.services.registrations import registration_confirm_deposit, registration_create
from listings.models import Loan, Package, PackageStatus
from marketplace.common.errors import DomainError
from marketplace.ledger.models import AccountKind, Entry
from marketplace.ledger.services import balance_of
from marketplace.ledger.verify import ledger_verify
from settlement.defaults import settlements_default_due
from settlement.models import Settlement, SettlementStatus, Transfer
from settlement.payments import settlement_confirm_payment
from settlement.runner_up import settlement_offer_runner_up
from settlement.tasks import close_and_settle
from settlement.transfers import loans_transfer
from tests.factories import AuctionFactory, PackageFactory, make_bidder, platform_user
from tests.support import end_auction

pytestmark = pytest.mark.django_db

AUCTIONS = 3
BUYERS = 3
LOANS = 2  # per package: the transfer's statement is set-based, more loans prove nothing here
# Terms of the three auctions: a usual one, one whose deposit exceeds its reserve (the excess is
# released at the award, and the deposit may cover the whole price), one without deposit or
# reserve.
TERMS = (
    {"deposit_amount": Decimal("400000.00")},
    {
        "starting_price": Decimal("100000.00"),
        "min_increment": Decimal("50000.00"),
        "reserve_price": Decimal("100000.00"),
        "deposit_amount": Decimal("150000.00"),
    },
    {
        "starting_price": Decimal("1000000.00"),
        "min_increment": Decimal("100000.00"),
        "reserve_price": None,
        "deposit_amount": Decimal("0.00"),
    },
)

AWAITING = SettlementStatus.AWAITING_PAYMENT
PAID = SettlementStatus.PAID
COMPLETED = SettlementStatus.COMPLETED
DEFAULTED = SettlementStatus.DEFAULTED

auction_index = st.integers(0, AUCTIONS - 1)
buyer_index = st.integers(0, BUYERS - 1)
# What happens to an auction's latest settlement (nothing when it has none). Weighted so that
# most histories reach payments and completed transfers as well as defaults and offers.
SETTLING = ["pay", "pay", "transfer", "transfer", "default", "runner_up"]
# An operation: (kind, auction, buyer, n); n is the number of increments above the current
# price for a bid, whether the deposit is confirmed too for a join (unless n % 4 == 0), whether
# a payment of the wrong amount is tried first for a pay (n % 3 == 0); a bid is placed by the
# buyer-th registered buyer of the auction, if any. The kinds are drawn with these weights, so
# that most histories reach confirmed deposits, bids and awards.
KINDS = ["join"] * 8 + ["bid"] * 16 + ["confirm"] * 4 + ["close", "cancel", *sorted(set(SETTLING))]
operation = st.tuples(st.sampled_from(KINDS), auction_index, buyer_index, st.integers(0, 12))
# How an auction's settlements end after the close: one of these fates (each reached often),
# then a few more settling steps in any order.
FATES = [
    [],
    ["pay", "transfer"],
    ["transfer", "pay", "default", "transfer", "transfer"],
    ["default", "runner_up"],
    ["default", "runner_up", "pay", "runner_up", "transfer"],
    ["default", "runner_up", "default", "runner_up", "pay", "transfer"],
]
ending = st.tuples(
    st.sampled_from(FATES), st.lists(st.sampled_from(SETTLING), max_size=3), st.integers(0, 12)
)


@dataclass
class Model:
    """What the history did, by this test's own bookkeeping."""

    confirmed: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    released: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    applied: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    forfeited: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    held: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))  # auction -> regs
    deposit: dict[int, str] = field(default_factory=dict)  # confirmed registration -> its state
    # auction -> accepted bids in order: (buyer organisation, registration, amount)
    bids: dict[int, list[tuple[int, int, Decimal]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    ended: set[int] = field(default_factory=set)
    # auction -> its settlements in order (the last one is live); settlement -> status
    settlements: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    status: dict[int, str] = field(default_factory=dict)
    deposit_applied: dict[int, Decimal] = field(default_factory=dict)  # settlement -> amount


@dataclass
class Market:
    auctions: list[Auction]
    buyers: list
    seller: object
    platform: object


@pytest.fixture
def market(seller_user, compliance_user, tape_storage) -> Market:
    auctions = [
        AuctionFactory(
            package=PackageFactory(created_by=seller_user, status="approved", loans=LOANS),
            state="open",
            **terms,
        )
        for terms in TERMS
    ]
    buyers = [make_bidder() for _ in range(BUYERS)]
    return Market(auctions, buyers, seller_user, platform_user())


class _Rollback(Exception):
    pass


def _attempt(step) -> bool:
    """Run one step in a savepoint; a refusal (a domain error) leaves nothing behind."""
    try:
        with transaction.atomic():
            step()
    except DomainError:
        return False
    return True


def _registration(auction: Auction, buyer) -> Registration | None:
    return Registration.objects.filter(auction=auction, buyer_id=buyer.organization_id).first()


def _confirm(model: Model, auction: Auction, buyer, platform) -> None:
    registration = _registration(auction, buyer)
    if registration is None:
        return
    if _attempt(
        lambda: registration_confirm_deposit(actor=platform, registration_id=registration.pk)
    ):
        model.confirmed[buyer.organization_id] += registration.deposit_amount
        model.held[auction.pk].add(registration.pk)
        model.deposit[registration.pk] = DepositStatus.HELD


def _bidder(model: Model, auction: Auction, buyers, index: int):
    """Mostly a registered buyer of the auction other than the leader (so that most bids can
    be accepted, and most awards leave a runner-up); the buyer ``index`` when none has
    registered (a refusal)."""
    registered = list(
        Registration.objects.filter(auction=auction)
        .order_by("pk")
        .values_list("registered_by_id", "buyer_id")
    )
    if not registered:
        return buyers[index]
    bids = model.bids[auction.pk]
    user_id, org = registered[index % len(registered)]
    if bids and org == bids[-1][0]:
        user_id, org = registered[(index + 1) % len(registered)]
    return next(b for b in buyers if b.pk == user_id)


def _bid(model: Model, auction: Auction, buyer, steps: int) -> None:
    auction.refresh_from_db()
    price = auction.current_price
    amount = auction.starting_price if price is None else price + steps * auction.min_increment
    if _attempt(lambda: bid_place(actor=buyer, auction_id=auction.pk, amount=amount)):
        registration = _registration(auction, buyer)
        assert registration is not None
        model.bids[auction.pk].append((buyer.organization_id, registration.pk, amount))


def _end(model: Model, auction: Auction, *, awarded_to: tuple[int, Decimal] | None) -> None:
    """The model's view of an ending: the winner's deposit applied up to its price, the rest
    and every other held deposit released."""
    model.ended.add(auction.pk)
    for reg_pk in model.held.pop(auction.pk, set()):
        registration = Registration.objects.get(pk=reg_pk)
        deposit, buyer_id = registration.deposit_amount, registration.buyer_id
        if awarded_to is not None and awarded_to[0] == reg_pk:
            applied = min(deposit, awarded_to[1])
            model.applied[buyer_id] += applied
            model.released[buyer_id] += deposit - applied
            model.deposit[reg_pk] = DepositStatus.APPLIED
        else:
            model.released[buyer_id] += deposit
            model.deposit[reg_pk] = DepositStatus.RELEASED


def _close(model: Model, auction: Auction) -> None:
    if auction.pk in model.ended:
        return
    end_auction(auction)
    close_and_settle(auction.pk)
    bids = model.bids[auction.pk]
    reserve = auction.reserve_price
    leader = bids[-1] if bids else None
    awarded = leader if leader and (reserve is None or leader[2] >= reserve) else None
    _end(model, auction, awarded_to=awarded and (awarded[1], awarded[2]))
    settlement = Settlement.objects.filter(auction=auction).first()
    assert (settlement is None) == (awarded is None), (auction.pk, awarded, settlement)
    if settlement is not None and awarded is not None:
        assert (settlement.buyer_id, settlement.price) == (awarded[0], awarded[2])
        deposit = Registration.objects.get(pk=awarded[1]).deposit_amount
        model.deposit_applied[settlement.pk] = min(deposit, awarded[2])
        assert settlement.deposit_applied == model.deposit_applied[settlement.pk]
        _opened(model, auction, settlement)


def _opened(model: Model, auction: Auction, settlement: Settlement) -> None:
    model.settlements[auction.pk].append(settlement.pk)
    model.status[settlement.pk] = AWAITING


def _cancel(model: Model, auction: Auction, seller) -> None:
    if _attempt(lambda: auction_cancel(actor=seller, auction_id=auction.pk, reason="property")):
        _end(model, auction, awarded_to=None)


def _latest(model: Model, auction: Auction) -> Settlement | None:
    ids = model.settlements[auction.pk]
    return Settlement.objects.get(pk=ids[-1]) if ids else None


def _pay(model: Model, settlement: Settlement, platform, n: int) -> None:
    """confirm-payment: the balance due, exactly, once; a wrong amount first when n says so."""

    def confirm(amount: Decimal):
        return lambda: settlement_confirm_payment(
            actor=platform, settlement_id=settlement.pk, amount=amount, reference=f"P-{n}"
        )

    if n % 3 == 0:
        assert not _attempt(confirm(settlement.balance_due + Decimal("0.01")))
    expected = model.status[settlement.pk] == AWAITING
    assert _attempt(confirm(settlement.balance_due)) == expected, model.status[settlement.pk]
    if expected:
        model.status[settlement.pk] = PAID


def _transfer(model: Model, settlement: Settlement) -> None:
    """The transfer task's service: it completes a paid settlement, and only once."""
    transfer = loans_transfer(settlement_id=settlement.pk)
    if model.status[settlement.pk] == PAID:
        assert transfer is not None
        model.status[settlement.pk] = COMPLETED
    else:
        assert transfer is None, model.status[settlement.pk]


def _default(model: Model, settlement: Settlement) -> None:
    """Time runs out on the settlement, and the default sweep runs: it defaults it when it is
    still awaiting payment, and nothing else (every other one is not due or not awaiting)."""
    Settlement.objects.filter(pk=settlement.pk).update(
        due_at=timezone.now() - dt.timedelta(minutes=1)
    )
    awaiting = model.status[settlement.pk] == AWAITING
    assert settlements_default_due() == int(awaiting)
    if not awaiting:
        return
    model.status[settlement.pk] = DEFAULTED
    amount = model.deposit_applied[settlement.pk]
    model.applied[settlement.buyer_id] -= amount
    model.forfeited[settlement.buyer_id] += amount
    if amount:
        winner = Registration.objects.get(pk=settlement.bid.registration_id)
        model.deposit[winner.pk] = DepositStatus.FORFEITED


def _runner_up(model: Model, auction: Auction, settlement: Settlement, seller) -> None:
    """offer-runner-up on the latest settlement: accepted only for a defaulted one with a
    bidder left (the model's: the highest bid of a buyer never settled on this auction)."""
    settled = {Settlement.objects.get(pk=pk).buyer_id for pk in model.settlements[auction.pk]}
    left = [bid for bid in model.bids[auction.pk] if bid[0] not in settled]
    best = max(left, key=lambda bid: bid[2], default=None)
    expected = model.status[settlement.pk] == DEFAULTED and best is not None
    offered = _attempt(
        lambda: settlement_offer_runner_up(actor=seller, settlement_id=settlement.pk)
    )
    assert offered == expected, (model.status[settlement.pk], best)
    if not offered or best is None:
        return
    offer = Settlement.objects.get(runner_up_of=settlement)
    assert (offer.buyer_id, offer.price, offer.balance_due) == (best[0], best[2], best[2])
    model.deposit_applied[offer.pk] = Decimal(0)
    _opened(model, auction, offer)


def _settle(model: Model, market: Market, kind: str, auction: Auction, n: int) -> None:
    settlement = _latest(model, auction)
    if settlement is None:
        return
    if kind == "pay":
        _pay(model, settlement, market.platform, n)
    elif kind == "transfer":
        _transfer(model, settlement)
    elif kind == "default":
        _default(model, settlement)
    else:
        _runner_up(model, auction, settlement, market.seller)


def _run(ops, model: Model, market: Market) -> None:
    buyers = market.buyers
    for kind, index, buyer, n in ops:
        auction = market.auctions[index]
        if kind == "join":
            _attempt(
                lambda a=auction, b=buyers[buyer]: registration_create(
                    actor=b, auction_id=a.pk, accept_nda=True
                )
            )
            if n % 4:
                _confirm(model, auction, buyers[buyer], market.platform)
        elif kind == "confirm":
            _confirm(model, auction, buyers[buyer], market.platform)
        elif kind == "bid":
            _bid(model, auction, _bidder(model, auction, buyers, buyer), n)
        elif kind == "close":
            _close(model, auction)
        elif kind == "cancel":
            _cancel(model, auction, market.seller)
        else:
            _settle(model, market, kind, auction, n)


def _check_balances(model: Model, market: Market) -> None:
    unbalanced = (
        Entry.objects.values("transaction_id").annotate(total=Sum("amount")).exclude(total=0)
    )
    assert list(unbalanced) == []
    with connection.cursor() as cursor:  # the deferred trigger's own verdict, now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    for buyer in market.buyers:
        org = buyer.organization_id
        expected = model.confirmed[org] - model.released[org] - model.applied[org]
        expected -= model.forfeited[org]
        held = -balance_of(organization_id=org, account=AccountKind.DEPOSITS_HELD)
        assert held == expected, (org, held, expected)
    states = dict(
        Registration.objects.filter(pk__in=model.deposit).values_list("pk", "deposit_status")
    )
    assert states == model.deposit
    seller_org = market.seller.organization_id
    forfeited = -balance_of(organization_id=seller_org, account=AccountKind.FORFEITED)
    assert forfeited == sum(model.forfeited.values(), Decimal(0))


def _check_settlement(model: Model, settlement: Settlement) -> None:
    assert settlement.status == model.status[settlement.pk], settlement.pk
    owed = balance_of(
        organization_id=settlement.buyer_id,
        account=AccountKind.SETTLEMENT_PAYABLE,
        settlement_id=settlement.pk,
    )
    claim = -balance_of(
        organization_id=settlement.seller_id,
        account=AccountKind.SELLER_PAYABLE,
        settlement_id=settlement.pk,
    )
    expected = {
        AWAITING: (settlement.balance_due, settlement.price),
        PAID: (Decimal(0), settlement.price),
        COMPLETED: (Decimal(0), Decimal(0)),
        DEFAULTED: (Decimal(0), Decimal(0)),
    }[settlement.status]
    assert (owed, claim) == expected, (settlement.pk, settlement.status)
    transfers = list(Transfer.objects.filter(settlement=settlement))
    if settlement.status != COMPLETED:
        assert transfers == []
        return
    assert len(transfers) == 1
    loans = Loan.objects.filter(package_id=settlement.package_id)
    owners = set(loans.values_list("owner_id", "transfer_id"))
    assert owners == {(settlement.buyer_id, transfers[0].pk)}
    assert transfers[0].loan_count == loans.count() == LOANS


def _check_packages(model: Model, market: Market) -> None:
    for auction in market.auctions:
        package = Package.objects.get(pk=auction.package_id)
        ids = model.settlements[auction.pk]
        last = model.status[ids[-1]] if ids else None
        expected = {
            None: PackageStatus.APPROVED,
            AWAITING: PackageStatus.IN_AUCTION,
            PAID: PackageStatus.IN_AUCTION,
            COMPLETED: PackageStatus.SOLD,
            DEFAULTED: PackageStatus.APPROVED,
        }[last]
        assert package.status == expected, (auction.pk, package.status, last)
        if last != COMPLETED:
            assert not Loan.objects.filter(package=package, owner__isnull=False).exists()


def _check(model: Model, market: Market) -> None:
    _check_balances(model, market)
    settlements = Settlement.objects.filter(auction__in=market.auctions)
    assert sorted(s.pk for s in settlements) == sorted(model.status)
    for settlement in settlements:
        _check_settlement(model, settlement)
    _check_packages(model, market)
    result = ledger_verify()
    assert result.valid, result.first_invalid
    # What the histories reached (--hypothesis-show-statistics), so a generator that stopped
    # reaching awards, payments, transfers, defaults or offers would show.
    event(f"deposits confirmed: {sum(1 for v in model.confirmed.values() if v)} buyers")
    ids = [a.pk for a in market.auctions]
    event(f"awarded auctions: {sorted(ids.index(pk) for pk, s in model.settlements.items() if s)}")
    for status in (PAID, COMPLETED, DEFAULTED):
        event(f"{status}: {sum(1 for s in model.status.values() if s == status)}")
    event(f"runner-up offers: {sum(max(len(s) - 1, 0) for s in model.settlements.values())}")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(operation, min_size=20, max_size=40),
    endings=st.lists(ending, min_size=AUCTIONS, max_size=AUCTIONS),
)
def test_the_ledger_balances_over_any_history(market, ops, endings):
    """``ops`` happen in any order; then time runs out on every auction (each closes, if not
    ended already) and each auction's settlements go through ``endings`` (payments,
    transfers, defaults, offers to the runner-up, in any order; what is left stays open)."""
    model = Model()
    closing = [("close", i, 0, 0) for i in range(AUCTIONS)]
    settling = [
        (kind, i, 0, n + step)
        for i, (fate, more, n) in enumerate(endings)
        for step, kind in enumerate([*fate, *more])
    ]
    try:
        with transaction.atomic():
            _run([*ops, *closing, *settling], model, market)
            _check(model, market)
            raise _Rollback
    except _Rollback:
        pass

"""Property test of DESIGN.md invariant 4 over random histories (Hypothesis): registrations,
deposit confirmations, bids, closes and cancels on a few auctions, then payments and defaults
of the settlements the closes opened (every auction ends, a settlement may stay open). After
every history:

- every ledger transaction sums to zero (and the deferred database check agrees),
- every buyer's ``deposits_held`` holds exactly confirmed minus released, applied and forfeited,
  as this test's own model of the history computes it (not as the ledger says),
- a paid settlement nets its buyer's ``settlement_payable`` and its seller's ``seller_payable`` to
  zero, a settlement awaiting payment owes its balance due, and ``verify_ledger`` finds nothing.

Each history runs in a savepoint rolled back at its end, over three auctions built once per test.
Payment and default call the ledger's movements directly, as stand-ins for the settlement
services that will post them (confirm-payment, the default sweep); their registration state is
set as those services will set it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bidding.models import Auction, DepositStatus, Registration
from bidding.services.bids import bid_place
from bidding.services.closing import auction_cancel
from bidding.services.registrations import registration_confirm_deposit, registration_create
from marketplace.common.errors import DomainError
from marketplace.ledger import movements
from marketplace.ledger.models import AccountKind, Entry
from marketplace.ledger.services import balance_of
from marketplace.ledger.verify import ledger_verify
from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.factories import make_bidder, platform_user
from tests.support import end_auction

pytestmark = pytest.mark.django_db

AUCTIONS = 3
BUYERS = 3
# Terms of the three auctions: a usual one, one whose deposit exceeds its reserve (the excess is
# released at the award), one without deposit or reserve.
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

auction_index = st.integers(0, AUCTIONS - 1)
buyer_index = st.integers(0, BUYERS - 1)
# An operation: (kind, auction, buyer, n); n is the number of increments above the current
# price for a bid, and whether the deposit is confirmed too for a join (unless n % 4 == 0); a
# bid is placed by the buyer-th registered buyer of the auction, if any. The kinds are
# drawn with these weights, so that most histories reach confirmed deposits, bids and awards.
KINDS = ["join"] * 5 + ["bid"] * 6 + ["confirm"] * 2 + ["close", "cancel", "pay", "default"]
operation = st.tuples(st.sampled_from(KINDS), auction_index, buyer_index, st.integers(0, 12))


@dataclass
class Model:
    """What the history did, by this test's own bookkeeping."""

    confirmed: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    released: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    applied: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    forfeited: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    held: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))  # auction -> regs
    leader: dict[int, tuple[int, Decimal]] = field(default_factory=dict)  # auction -> (reg, bid)
    ended: set[int] = field(default_factory=set)
    paid: set[int] = field(default_factory=set)  # settlement ids
    defaulted: set[int] = field(default_factory=set)


@pytest.fixture
def market(auction_in_state, seller_user):
    auctions = [auction_in_state("open", **terms) for terms in TERMS]
    buyers = [make_bidder() for _ in range(BUYERS)]
    return auctions, buyers, seller_user, platform_user()


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


def _bidder(auction: Auction, buyers, index: int):
    """Mostly a registered buyer of the auction (so that most bids can be accepted); the
    buyer ``index`` when none has registered (a refusal)."""
    registered = list(
        Registration.objects.filter(auction=auction)
        .order_by("pk")
        .values_list("registered_by_id", flat=True)
    )
    if not registered:
        return buyers[index]
    user_id = registered[index % len(registered)]
    return next(b for b in buyers if b.pk == user_id)


def _bid(model: Model, auction: Auction, buyer, steps: int) -> None:
    auction.refresh_from_db()
    price = auction.current_price
    amount = auction.starting_price if price is None else price + steps * auction.min_increment
    if _attempt(lambda: bid_place(actor=buyer, auction_id=auction.pk, amount=amount)):
        registration = _registration(auction, buyer)
        assert registration is not None
        model.leader[auction.pk] = (registration.pk, amount)


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
        else:
            model.released[buyer_id] += deposit


def _close(model: Model, auction: Auction) -> None:
    if auction.pk in model.ended:
        return
    end_auction(auction)
    close_and_settle(auction.pk)
    leader = model.leader.get(auction.pk)
    reserve = auction.reserve_price
    awarded = leader if leader and (reserve is None or leader[1] >= reserve) else None
    _end(model, auction, awarded_to=awarded)


def _cancel(model: Model, auction: Auction, seller) -> None:
    if _attempt(lambda: auction_cancel(actor=seller, auction_id=auction.pk, reason="property")):
        _end(model, auction, awarded_to=None)


def _settlement(model: Model, auction: Auction) -> Settlement | None:
    settlement = Settlement.objects.filter(auction=auction).first()
    if settlement is None or settlement.pk in model.paid | model.defaulted:
        return None
    return settlement


def _pay(model: Model, auction: Auction) -> None:
    settlement = _settlement(model, auction)
    if settlement is None:
        return
    with transaction.atomic():
        movements.payment_received(
            buyer_id=settlement.buyer_id, amount=settlement.balance_due, settlement_id=settlement.pk
        )
        movements.seller_payout(
            seller_id=settlement.seller_id, amount=settlement.price, settlement_id=settlement.pk
        )
    model.paid.add(settlement.pk)


def _default(model: Model, auction: Auction) -> None:
    settlement = _settlement(model, auction)
    if settlement is None:
        return
    registration = Registration.objects.get(pk=settlement.bid.registration_id)
    with transaction.atomic():
        movements.deposit_forfeited(
            buyer_id=settlement.buyer_id,
            seller_id=settlement.seller_id,
            amount=settlement.deposit_applied,
            registration_id=registration.pk,
            settlement_id=settlement.pk,
        )
        if registration.deposit_status == DepositStatus.APPLIED:
            registration.deposit_status = DepositStatus.FORFEITED
            registration.save(update_fields=["deposit_status"])
    model.applied[settlement.buyer_id] -= settlement.deposit_applied
    model.forfeited[settlement.buyer_id] += settlement.deposit_applied
    model.defaulted.add(settlement.pk)


def _run(ops, model: Model, market) -> None:
    auctions, buyers, seller, platform = market
    for op in ops:
        auction = auctions[op[1]]
        if op[0] == "join":
            _attempt(
                lambda a=auction, b=buyers[op[2]]: registration_create(
                    actor=b, auction_id=a.pk, accept_nda=True
                )
            )
            if op[3] % 4:
                _confirm(model, auction, buyers[op[2]], platform)
        elif op[0] == "confirm":
            _confirm(model, auction, buyers[op[2]], platform)
        elif op[0] == "bid":
            _bid(model, auction, _bidder(auction, buyers, op[2]), op[3])
        elif op[0] == "close":
            _close(model, auction)
        elif op[0] == "cancel":
            _cancel(model, auction, seller)
        elif op[0] == "pay":
            _pay(model, auction)
        else:
            _default(model, auction)


def _check(model: Model, market) -> None:
    auctions, buyers, _, _ = market
    unbalanced = (
        Entry.objects.values("transaction_id").annotate(total=Sum("amount")).exclude(total=0)
    )
    assert list(unbalanced) == []
    with connection.cursor() as cursor:  # the deferred trigger's own verdict, now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    for buyer in buyers:
        org = buyer.organization_id
        expected = model.confirmed[org] - model.released[org] - model.applied[org]
        expected -= model.forfeited[org]
        held = -balance_of(organization_id=org, account=AccountKind.DEPOSITS_HELD)
        assert held == expected, (org, held, expected)
    for settlement in Settlement.objects.filter(auction__in=auctions):
        owed = balance_of(
            organization_id=settlement.buyer_id,
            account=AccountKind.SETTLEMENT_PAYABLE,
            settlement_id=settlement.pk,
        )
        proceeds = -balance_of(
            organization_id=settlement.seller_id,
            account=AccountKind.SELLER_PAYABLE,
            settlement_id=settlement.pk,
        )
        if settlement.pk in model.paid | model.defaulted:
            assert owed == proceeds == 0
        else:
            assert (owed, proceeds) == (settlement.balance_due, settlement.price)
    result = ledger_verify()
    assert result.valid, result.first_invalid
    # What the histories reached (--hypothesis-show-statistics), so a generator that stopped
    # reaching awards, payments or defaults would show.
    event(f"deposits confirmed: {sum(1 for v in model.confirmed.values() if v)} buyers")
    awarded = Settlement.objects.filter(auction__in=auctions).values_list("auction_id", flat=True)
    ids = [a.pk for a in auctions]
    event(f"awarded auctions: {sorted(ids.index(pk) for pk in awarded)}")
    event(f"paid: {len(model.paid)}, defaulted: {len(model.defaulted)}")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(operation, min_size=10, max_size=30),
    endings=st.lists(
        st.sampled_from(["pay", "default", "open"]), min_size=AUCTIONS, max_size=AUCTIONS
    ),
)
def test_the_ledger_balances_over_any_history(market, ops, endings):
    """``ops`` happen in any order; then time runs out on every auction (each closes, if not
    ended already) and each settlement is paid, defaulted or left open (``endings``)."""
    model = Model()
    closing = [("close", i, 0, 0) for i in range(AUCTIONS)]
    settling = [(ending, i, 0, 0) for i, ending in enumerate(endings) if ending != "open"]
    try:
        with transaction.atomic():
            _run([*ops, *closing, *settling], model, market)
            _check(model, market)
            raise _Rollback
    except _Rollback:
        pass

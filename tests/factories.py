"""factory_boy factories, one for every model of the project (``tests/test_factories.py`` checks
that none is missing and that each builds a valid, saved object).

Models whose invariants come from a workflow are built through the services that own them, as
the product builds them: a package is created with ``package_create`` and reaches ``approved``
with a tape imported, submitted and approved; a tape is uploaded and processed; an auction is
created with ``auction_create`` and then opened, closed or cancelled by bidding's services; a
settlement is what closing an awarded auction opens; an audit event is recorded. Only rows that
no workflow writes yet (``PackageBar``) or that the HTTP layer stores (``IdempotencyKey``) are
plain inserts. Only the ``create`` strategy is meant for the service-built ones.

Demo data is a fictional Chinese market: city and rural commercial banks sell, asset management
companies buy, loans are in CNY and regions are provinces. Every name here is invented.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from decimal import Decimal

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from bidding.models import Auction, Bid, PackageBar, Registration
from bidding.services.auctions import AuctionTerms, auction_create
from bidding.services.bids import bid_place
from bidding.services.closing import auction_cancel
from bidding.services.registrations import (
    registration_confirm_deposit,
    registration_create,
)
from listings import services as listing_services
from listings.models import DataRoomGrant, Loan, LoanTapeImport, Package
from market.models import Deal
from market.synthetic import synthetic_deal
from marketplace.accounts.models import Organization, User
from marketplace.audit.models import AuditEvent
from marketplace.audit.services import record_atomic
from marketplace.common.models import IdempotencyKey
from marketplace.ledger import movements
from marketplace.ledger.models import Account, AccountKind, Entry
from marketplace.ledger.services import account_for
from marketplace.outbox.models import OutboxMessage
from notifications.fanout import Notice
from notifications.models import Delivery, Event, NotificationPreference, WebhookEndpoint
from notifications.outbox import events_write
from notifications.services.preferences import preference_set
from notifications.services.relay import events_fan_out
from notifications.services.webhooks import webhook_create
from settlement.models import Settlement, SettlementStatus, Transfer
from settlement.payments import settlement_confirm_payment
from settlement.tasks import close_and_settle
from settlement.transfers import loans_transfer
from tests.support import CUT_OFF, PASSWORD, end_auction

BANKS = (
    "Jinghai City Commercial Bank",
    "Minjiang Rural Commercial Bank",
    "Xiangjiang Commercial Bank",
    "Tianfu Rural Bank",
    "Huaibei City Commercial Bank",
)
BUYERS = (
    "Jade River Asset Management",
    "Eastern Harbour AMC",
    "Qilin Capital Partners",
    "Songjiang Local AMC",
)
PROVINCES = ("Guangdong", "Zhejiang", "Jiangsu", "Sichuan", "Hubei", "Fujian", "Shandong")
PRODUCTS = ("credit_card", "consumer_loan", "personal_business_loan")
LEGAL = ("not_sued", "in_litigation", "judgment_obtained", "enforcement", "settled")
PACKAGE_TITLES = (
    "Retail credit cards, Pearl River Delta",
    "Consumer loans, Yangtze River Delta",
    "Small-business loans, Sichuan basin",
)


def _org_name(kind: str, n: int) -> str:
    if kind == "platform":
        return f"Marketplace Operator {n}"
    names = BUYERS if kind == "buyer" else BANKS
    return f"{names[n % len(names)]} {n}"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.LazyAttributeSequence(lambda o, n: _org_name(o.kind, n))
    kind = "bank"
    licence_type = factory.LazyAttribute(lambda o: "national_amc" if o.kind == "buyer" else "")
    eligibility = factory.LazyAttribute(lambda o: "pending" if o.kind == "buyer" else "approved")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organization = factory.SubFactory(OrganizationFactory)
    role = "disposal_officer"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_bidder(
    *, name: str | None = None, licence_type: str = "national_amc", eligibility: str = "approved"
) -> User:
    """A bidder of a new buyer organisation (approved unless ``eligibility`` says otherwise)."""
    org_kwargs = {"kind": "buyer", "licence_type": licence_type, "eligibility": eligibility}
    if name is not None:
        org_kwargs["name"] = name
    return UserFactory(organization=OrganizationFactory(**org_kwargs), role="bidder")


def make_bank_officer() -> User:
    """A disposal officer of a new bank."""
    return UserFactory(organization=OrganizationFactory(kind="bank"), role="disposal_officer")


def platform_user(role: str = "compliance_officer") -> User:
    """A platform user of that role: the first there is, else one of a new platform org."""
    user = User.objects.filter(role=role, organization__kind="platform").order_by("pk").first()
    if user is None:
        org = Organization.objects.filter(kind="platform").order_by("pk").first()
        user = UserFactory(organization=org or OrganizationFactory(kind="platform"), role=role)
    return user


# --------------------------------------------------------------------------- loan tapes


def demo_loan(n: int, *, currency: str = "CNY", **cells: str) -> dict[str, str]:
    """The cells of demo loan ``n``: valid against a package cut off on CUT_OFF or later;
    ``cells`` replace some."""
    principal = Decimal(20_000 + 7_919 * n % 480_000).quantize(Decimal("0.01"))
    row = {
        "loan_id": f"CN-{n:06d}",
        "borrower_id": f"BRW{n:07d}",
        "product_type": PRODUCTS[n % len(PRODUCTS)],
        "currency": currency,
        "origination_date": "2019-03-18",
        "default_date": "2021-11-30",
        "outstanding_principal": str(principal),
        "accrued_interest": str((principal * Decimal("0.085")).quantize(Decimal("0.01"))),
        "fees_and_penalties": "320.00",
        "days_past_due": str(180 + 37 * n % 1500),
        "last_payment_date": "2021-08-15",
        "last_payment_amount": "1500.00",
        "interest_rate": "8.50",
        "borrower_age": str(25 + n % 40),
        "region": PROVINCES[n % len(PROVINCES)],
        "legal_status": LEGAL[n % len(LEGAL)],
        "classification": "doubtful" if n % 3 else "loss",
        "written_off": "false",
    }
    row.update(cells)
    return row


def demo_tape_csv(rows: list[dict[str, str]]) -> bytes:
    """A CSV tape of ``rows`` (the header is the first row's keys)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- listings


class PackageFactory(factory.django.DjangoModelFactory):
    """A package through the listings services. ``status``: draft (default), pending_review or
    approved (after importing ``loans`` demo loans, 5 unless given; compliance approves) or
    withdrawn. A draft gets a tape only when ``loans`` is given. ``in_auction`` comes from
    ``AuctionFactory``."""

    class Meta:
        model = Package

    created_by = factory.LazyFunction(make_bank_officer)
    title = factory.Sequence(lambda n: PACKAGE_TITLES[n % len(PACKAGE_TITLES)])
    description = "Unsecured retail exposures; borrower identities hashed."
    currency = "CNY"
    cut_off_date = CUT_OFF
    status = "draft"
    loans = 0  # not a field: how many demo loans to import

    @classmethod
    def _create(cls, model_class, *, created_by, status, loans, **fields) -> Package:
        if status not in ("draft", "pending_review", "approved", "withdrawn"):
            raise ValueError(f"PackageFactory does not build {status} packages")
        reviewed = status in ("pending_review", "approved")
        package = listing_services.package_create(actor=created_by, **fields)
        if loans or reviewed:
            rows = [demo_loan(n, currency=package.currency) for n in range(1, (loans or 5) + 1)]
            tape = LoanTapeImportFactory(package=package, rows=rows)
            assert tape.status == "succeeded", tape.errors
        if reviewed:
            listing_services.package_submit(actor=created_by, package_id=package.pk)
        if status == "approved":
            listing_services.package_approve(actor=platform_user(), package_id=package.pk)
        elif status == "withdrawn":
            listing_services.package_withdraw(actor=created_by, package_id=package.pk)
        package.refresh_from_db()
        return package


class LoanTapeImportFactory(factory.django.DjangoModelFactory):
    """A tape uploaded by the package's creator and processed (succeeded, unless ``rows`` say
    otherwise); ``rows`` are cells by column, as ``demo_loan`` gives them."""

    class Meta:
        model = LoanTapeImport

    package = factory.SubFactory(PackageFactory)
    rows = factory.LazyAttribute(
        lambda o: [demo_loan(n, currency=o.package.currency) for n in range(1, 6)]
    )
    file_name = "loan-tape.csv"

    @classmethod
    def _create(cls, model_class, *, package, rows, file_name) -> LoanTapeImport:
        tape = listing_services.loan_tape_upload(
            actor=package.created_by,
            package_id=package.pk,
            upload=SimpleUploadedFile(file_name, demo_tape_csv(rows)),
            file_type="csv",
        )
        return listing_services.loan_tape_process(import_id=tape.pk)


class LoanFactory(factory.django.DjangoModelFactory):
    """One loan, imported as a one-loan tape of its own draft package (loans are only ever
    loaded by an import). Keyword arguments other than ``package`` are tape cells."""

    class Meta:
        model = Loan

    package = factory.SubFactory(PackageFactory)

    @classmethod
    def _create(cls, model_class, *, package, **cells) -> Loan:
        tape = LoanTapeImportFactory(
            package=package, rows=[demo_loan(1, currency=package.currency, **cells)]
        )
        assert tape.status == "succeeded", tape.errors
        return Loan.objects.get(tape_import=tape)


class DataRoomGrantFactory(factory.django.DjangoModelFactory):
    """An approved buyer's access to an approved package, granted through the service."""

    class Meta:
        model = DataRoomGrant

    package = factory.SubFactory(PackageFactory, status="approved")
    organization = factory.SubFactory(OrganizationFactory, kind="buyer", eligibility="approved")
    reason = "nda_accepted"

    @classmethod
    def _create(cls, model_class, *, package, organization, reason) -> DataRoomGrant:
        return listing_services.data_room_grant(
            actor=None, package_id=package.pk, organization_id=organization.pk, reason=reason
        )


# --------------------------------------------------------------------------- bidding


def _starts_in(o) -> dt.timedelta:
    return dt.timedelta(hours=1) if o.state == "scheduled" else dt.timedelta(0)


class AuctionFactory(factory.django.DjangoModelFactory):
    """An auction of an approved package through ``auction_create``, then brought to ``state``:
    scheduled (starts in an hour), open (default), awarded (one confirmed bidder bid the
    reserve; closed, settlement opened), no_sale (closed without a bid) or cancelled (by the
    seller). Amounts in CNY."""

    class Meta:
        model = Auction

    package = factory.SubFactory(PackageFactory, status="approved")
    format = "english"
    state = "open"  # not a field
    starts_in = factory.LazyAttribute(_starts_in)  # not a field
    ends_in = factory.LazyAttribute(lambda o: o.starts_in + dt.timedelta(hours=1))  # not a field
    starting_price = Decimal("8000000.00")
    min_increment = Decimal("100000.00")
    reserve_price = Decimal("9000000.00")
    deposit_amount = Decimal("400000.00")

    @classmethod
    def _create(cls, model_class, *, package, state, starts_in, ends_in, **terms) -> Auction:
        if state not in ("scheduled", "open", "awarded", "no_sale", "cancelled"):
            raise ValueError(f"AuctionFactory does not build {state} auctions")
        now = timezone.now()
        auction = auction_create(
            actor=package.created_by,
            package_id=package.pk,
            terms=AuctionTerms(starts_at=now + starts_in, ends_at=now + ends_in, **terms),
        )
        if state == "awarded":
            registration = RegistrationFactory(auction=auction)
            winning = terms["reserve_price"] or auction.starting_price
            BidFactory(registration=registration, amount=winning)
        if state in ("awarded", "no_sale"):
            end_auction(auction)
            close_and_settle(auction.pk)
        elif state == "cancelled":
            auction_cancel(
                actor=package.created_by, auction_id=auction.pk, reason="Portfolio sold bilaterally"
            )
        auction.refresh_from_db()
        return auction


class RegistrationFactory(factory.django.DjangoModelFactory):
    """A registration (NDA accepted) of a new approved buyer's bidder on an open auction; its
    deposit confirmed by compliance unless ``confirmed=False``."""

    class Meta:
        model = Registration

    auction = factory.SubFactory(AuctionFactory)
    registered_by = factory.LazyFunction(make_bidder)
    confirmed = True  # not a field

    @classmethod
    def _create(cls, model_class, *, auction, registered_by, confirmed) -> Registration:
        registration = registration_create(
            actor=registered_by, auction_id=auction.pk, accept_nda=True
        )
        if confirmed and registration.status == "pending_deposit":
            registration = registration_confirm_deposit(
                actor=platform_user(), registration_id=registration.pk
            )
        return registration


class BidFactory(factory.django.DjangoModelFactory):
    """A bid through ``bid_place`` by the registration's bidder; ``amount`` defaults to the
    least the auction accepts next."""

    class Meta:
        model = Bid

    registration = factory.SubFactory(RegistrationFactory)
    amount = None

    @classmethod
    def _create(cls, model_class, *, registration, amount) -> Bid:
        auction = Auction.objects.get(pk=registration.auction_id)
        if amount is None:
            price = auction.current_price
            amount = auction.starting_price if price is None else price + auction.min_increment
        return bid_place(actor=registration.registered_by, auction_id=auction.pk, amount=amount)


class PackageBarFactory(factory.django.DjangoModelFactory):
    """A buyer barred from a package (a plain insert; the default of a settlement writes one)."""

    class Meta:
        model = PackageBar

    package = factory.SubFactory(PackageFactory, status="approved")
    buyer = factory.SubFactory(OrganizationFactory, kind="buyer", eligibility="approved")
    reason = "Defaulted on the balance of an earlier auction of this package."


# --------------------------------------------------------------------------- settlement


class SettlementFactory(factory.django.DjangoModelFactory):
    """The settlement that closing an awarded auction opens."""

    class Meta:
        model = Settlement

    auction = factory.SubFactory(AuctionFactory, state="awarded")

    @classmethod
    def _create(cls, model_class, *, auction) -> Settlement:
        return Settlement.objects.get(auction=auction)


def settlement_mark_paid(settlement: Settlement) -> Settlement:
    """The settlement paid: the platform confirms the balance due (``confirm-payment``), unless
    it is paid already."""
    settlement.refresh_from_db()
    if settlement.status == SettlementStatus.AWAITING_PAYMENT:
        settlement_confirm_payment(
            actor=platform_user(),
            settlement_id=settlement.pk,
            amount=settlement.balance_due,
            reference=f"PAY-{settlement.pk}",
        )
        settlement.refresh_from_db()
    return settlement


class TransferFactory(factory.django.DjangoModelFactory):
    """The transfer that completes a paid settlement, made by ``loans_transfer`` (the package's
    loans move to the buyer, the package is sold, the settlement completed)."""

    class Meta:
        model = Transfer

    settlement = factory.SubFactory(SettlementFactory)

    @classmethod
    def _create(cls, model_class, *, settlement) -> Transfer:
        settlement_mark_paid(settlement)
        transfer = loans_transfer(settlement_id=settlement.pk)
        assert transfer is not None
        return transfer


# --------------------------------------------------------------------------- platform


class AuditEventFactory(factory.django.DjangoModelFactory):
    """An event appended to its stream through ``record_atomic`` (hash-chained)."""

    class Meta:
        model = AuditEvent

    action = "deal.noted"
    object_type = "deal"
    object_id = factory.Sequence(lambda n: n + 1)
    data = factory.LazyFunction(lambda: {"amount": "1000000.00", "currency": "CNY"})

    @classmethod
    def _create(cls, model_class, **kwargs) -> AuditEvent:
        return record_atomic(**kwargs)


class AccountFactory(factory.django.DjangoModelFactory):
    """A ledger account of an organisation, created as the ledger creates it (on first use)."""

    class Meta:
        model = Account

    organization = factory.SubFactory(
        OrganizationFactory, kind="buyer", licence_type="national_amc", eligibility="approved"
    )
    kind = AccountKind.DEPOSITS_HELD
    currency = "CNY"

    @classmethod
    def _create(cls, model_class, *, organization, kind, currency) -> Account:
        return account_for(organization_id=organization.pk, kind=kind, currency=currency)


class EntryFactory(factory.django.DjangoModelFactory):
    """The buyer's entry of a deposit posted through ``movements.deposit_held`` (a balanced
    transaction: the platform's cash entry is its other half). ``registration_id`` is a plain
    id, as the ledger stores it."""

    class Meta:
        model = Entry

    organization = factory.SubFactory(
        OrganizationFactory, kind="buyer", licence_type="national_amc", eligibility="approved"
    )
    amount = Decimal("400000.00")
    registration_id = factory.Sequence(lambda n: 10_000 + n)

    @classmethod
    def _create(cls, model_class, *, organization, amount, registration_id) -> Entry:
        platform_user()  # the platform organisation owns the cash side
        with transaction.atomic():
            txn = movements.deposit_held(
                buyer_id=organization.pk, amount=amount, registration_id=registration_id
            )
        return Entry.objects.get(transaction_id=txn, organization=organization)


class IdempotencyKeyFactory(factory.django.DjangoModelFactory):
    """A stored first response, as the idempotency middleware writes it."""

    class Meta:
        model = IdempotencyKey

    class Params:
        user = factory.SubFactory(UserFactory)

    organization_id = factory.SelfAttribute("user.organization_id")
    user_id = factory.SelfAttribute("user.pk")
    key = factory.Sequence(lambda n: f"create-package-{n}")
    fingerprint = factory.LazyAttribute(lambda o: hashlib.sha256(o.key.encode()).hexdigest())
    method = "POST"
    path = "/api/v1/packages/"
    response_status = 201
    response_content_type = "application/json"
    response_headers = factory.LazyFunction(lambda: {"Location": "/api/v1/packages/1/"})
    response_body = b'{"id": 1}'


# --------------------------------------------------------------------------- task outbox


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    """A message waiting in the task outbox (``marketplace.outbox.services.enqueue`` writes
    these inside a transaction; a plain insert is the same row)."""

    class Meta:
        model = OutboxMessage

    task = "settlement.auction_close"
    args = factory.Sequence(lambda n: [n + 1])


# --------------------------------------------------------------------------- market


class DealFactory(factory.django.DjangoModelFactory):
    """A synthetic deal (``market.synthetic``) of a new bank, completed ``days_ago`` days ago;
    a real deal comes from completing a settlement (``TransferFactory``)."""

    class Meta:
        model = Deal

    seller = factory.SubFactory(OrganizationFactory, kind="bank")
    days_ago = 30  # not a field
    seed = factory.Sequence(lambda n: n)  # not a field

    @classmethod
    def _create(cls, model_class, *, seller, days_ago, seed, **fields) -> Deal:
        import random

        completed_at = timezone.now() - dt.timedelta(days=days_ago)
        deal = synthetic_deal(random.Random(seed), seller, completed_at)
        for name, value in fields.items():
            setattr(deal, name, value)
        deal.save()
        return deal


# --------------------------------------------------------------------------- notifications


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """An endpoint created through ``webhook_create`` (a loopback URL: tests allow them)."""

    class Meta:
        model = WebhookEndpoint

    created_by = factory.SubFactory(UserFactory)
    url = "http://127.0.0.1:9/hooks"
    event_types = factory.LazyFunction(lambda: ["auction.won", "bid.outbid"])
    active = True

    @classmethod
    def _create(cls, model_class, created_by, url, event_types, active, **kwargs):
        endpoint, _secret = webhook_create(
            actor=created_by, url=url, event_types=event_types, active=active
        )
        return endpoint


class EventFactory(factory.django.DjangoModelFactory):
    """An event for one organisation, written through the outbox."""

    class Meta:
        model = Event

    type = "auction.won"
    organization = factory.SubFactory(OrganizationFactory)
    data = factory.LazyFunction(lambda: {"auction_id": 1, "price": "100.00"})

    @classmethod
    def _create(cls, model_class, type, organization, data, **kwargs):
        with transaction.atomic():
            (event,) = events_write(
                [Notice(type, organization.pk, data)], created_at=timezone.now()
            )
        return event


class DeliveryFactory(factory.django.DjangoModelFactory):
    """The delivery of an event to an endpoint of its organisation, made by the relay."""

    class Meta:
        model = Delivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)

    @classmethod
    def _create(cls, model_class, endpoint, **kwargs):
        event = EventFactory(type=endpoint.event_types[0], organization=endpoint.organization)
        events_fan_out(batch=10_000)
        return Delivery.objects.get(event=event, endpoint=endpoint)


class NotificationPreferenceFactory(factory.django.DjangoModelFactory):
    """A user's e-mail choices, set through ``preference_set``."""

    class Meta:
        model = NotificationPreference

    user = factory.SubFactory(UserFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    event_types = factory.LazyFunction(lambda: ["auction.won"])

    @classmethod
    def _create(cls, model_class, user, email, event_types, **kwargs):
        preference_set(user=user, email=email, event_types=event_types)
        return NotificationPreference.objects.get(user=user)

"""The authorization matrix: role x endpoint x expected status (API.md, Conventions and each
endpoint's "who"), and for lists which of the world's objects each role sees.

Rules (API.md): no token -> 401; a valid token without the right -> 403; an object the caller's
organisation may not see -> 404. The columns are ``world.ROLES``; the targets are names of the
fixture world (``tests/authz/world.py``). ``test_matrix.py`` drives every cell through HTTP and
fails when the URL map has a (method, route) without a row here.

To add an endpoint: add its rows to ``ROWS`` (a route is written as the URL map has it, with
``{name}`` for each path parameter, filled from ``targets``), and if it needs objects of its own,
a builder in ``world.BUILDERS``. A list endpoint also gets a ``Listing`` in ``LISTINGS`` and a
``sees`` for its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model

from bidding.models import Auction, Registration
from listings.models import Package
from marketplace.accounts.models import Organization
from notifications.models import WebhookEndpoint
from settlement.models import Settlement, Transfer
from tests.authz.world import ROLES, World
from tests.factories import demo_loan, demo_tape_csv

API = "/api/v1/"
Body = Callable[[World], Any] | Mapping[str, Any] | None


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    expect: tuple[int, ...]  # one status per role, in ROLES order
    targets: Mapping[str, str] = field(default_factory=dict)  # path parameter -> world name
    body: Body = None
    format: str = "json"
    query: str = ""
    sees: Mapping[str, frozenset[str]] | None = None  # role -> names listed (for 2xx lists)

    @property
    def static(self) -> bool:
        """Files served to anyone (its parameters are literal paths, not objects)."""
        return self.route.startswith("/static/")

    @property
    def id(self) -> str:
        where = ",".join(self.targets.values())
        return f"{self.method} {self.route}{self.query}" + (f" [{where}]" if where else "")

    def expected(self, role: str) -> int:
        return self.expect[ROLES.index(role)]


def row(method: str, route: str, *expect: int, **options: Any) -> Row:
    """``row("GET", "/api/v1/packages/{pk}/", 200, ..., pk="draft")``: keyword arguments that
    name a path parameter of ``route`` are its targets; the others are ``Row`` fields."""
    fields = {"body", "format", "query", "sees"}
    targets = {k: v for k, v in options.items() if k not in fields}
    rest = {k: v for k, v in options.items() if k in fields}
    assert len(expect) == len(ROLES), f"{method} {route}: {len(expect)} statuses"
    if not route.startswith("/"):
        route = API + route
    return Row(method, route, tuple(expect), targets, **rest)


@dataclass(frozen=True)
class Listing:
    """How to read which objects a list response names: the model and, per item, its id."""

    model: type[Model]
    item_id: Callable[[dict[str, Any]], int]
    results: Callable[[Any], list[dict[str, Any]]] = lambda body: body["results"]


def _by_id(item: dict[str, Any]) -> int:
    return int(item["id"])


LISTINGS: dict[str, Listing] = {
    "/api/v1/organizations/": Listing(Organization, _by_id),
    "/api/v1/packages/": Listing(Package, _by_id),
    "/api/v1/auctions/": Listing(Auction, _by_id),
    "/api/v1/auctions/{pk}/registrations/": Listing(Registration, _by_id),
    "/api/v1/settlements/": Listing(Settlement, _by_id),
    "/api/v1/transfers/": Listing(Transfer, _by_id),
    "/api/v1/webhooks/": Listing(WebhookEndpoint, _by_id),
    "/api/v1/ledger/entries/": Listing(Organization, lambda item: int(item["organization"])),
    "/api/v1/ledger/balances/": Listing(
        Organization, lambda item: int(item["organization"]), results=lambda body: body
    ),
}


def sees(**by_role: str | set[str] | frozenset[str]) -> dict[str, frozenset[str]]:
    """``sees(seller=PUBLIC | {"draft"}, ...)``; a space-separated string is a set of names."""
    return {
        role: frozenset(names.split() if isinstance(names, str) else names)
        for role, names in by_role.items()
    }


# --------------------------------------------------------------------------- bodies


def _tape(world: World) -> dict[str, Any]:
    rows = [demo_loan(n, currency="CNY") for n in range(1, 3)]
    return {"file": SimpleUploadedFile("tape.csv", demo_tape_csv(rows), "text/csv")}


def _auction_terms(world: World) -> dict[str, Any]:
    return {
        "package": world.objects["listed"].pk,
        "format": "english",
        "starts_at": "2030-01-01T09:00:00Z",
        "ends_at": "2030-01-02T09:00:00Z",
        "starting_price": "1000000.00",
        "min_increment": "10000.00",
        "deposit_amount": "50000.00",
    }


def _payment(world: World) -> dict[str, Any]:
    return {"amount": str(world.objects["awarded"].balance_due), "reference": "PAY-MATRIX"}


MEMBER = {"username": "matrix-member", "password": "unusual-matrix-passphrase-9", "role": "bidder"}

# --------------------------------------------------------------------------- who sees what

ORG_NAMES = frozenset(
    [
        "org:seller",
        "org:other_seller",
        "org:registered",
        "org:bidder",
        "org:suspended",
        "org:pending",
        "org:platform",
        "org:depositor",
        "org:defaulter",
    ]
)
PUBLIC_PACKAGES = frozenset(
    [
        "listed",
        "open_package",
        "scheduled_package",
        "awarded_package",
        "sold_package",
        "defaulted_package",
    ]
)
OWN_PACKAGES = PUBLIC_PACKAGES | {"draft", "in_review"}
ALL_PACKAGES = OWN_PACKAGES | {"other_draft"}
AUCTIONS = frozenset(["open_auction", "scheduled_auction", "awarded_auction", "sold_auction"]) | {
    "defaulted_auction"
}
NOTHING: frozenset[str] = frozenset()
REGISTRATIONS = frozenset(["registration", "suspended_registration", "pending_deposit"])
SETTLEMENTS = frozenset(["awarded", "sold", "defaulted"])
# Organisations with ledger entries: deposits held by the platform for its buyers, sales.
LEDGER_ORGS = frozenset(
    ["org:platform", "org:seller", "org:registered", "org:suspended", "org:defaulter"]
)


def _own_org(role: str) -> frozenset[str]:
    return frozenset({f"org:{role}"} & LEDGER_ORGS)


def ledger_sees() -> dict[str, frozenset[str]]:
    out = {role: _own_org(role) for role in ROLES[:-3]}
    out |= {"compliance": LEDGER_ORGS, "admin": LEDGER_ORGS}
    return out


# fmt: off
#   (routes under /api/v1/ unless they start with /) sell othr regd bidr susp pend comp admn anon
ROWS: list[Row] = [
    row("GET",   "/healthz",                         200, 200, 200, 200, 200, 200, 200, 200, 200),
    row("GET",   "/readyz",                          200, 200, 200, 200, 200, 200, 200, 200, 200),
    # Webhooks (API.md "Events, webhooks, live stream"): users of an approved organisation, for
    # their own organisation only (another organisation's endpoint is not found); a suspended
    # or pending buyer is refused before any lookup. Notification preferences: any user, own.
    row("GET",   "webhooks/",                        200, 200, 200, 200, 403, 403, 200, 200, 401,
        sees=sees(seller="webhook", other_seller="", registered="", bidder="", compliance="",
                  admin="")),
    row("POST",  "webhooks/",                        201, 201, 201, 201, 403, 403, 201, 201, 401,
        body={"url": "http://127.0.0.1:9/hooks", "event_types": ["auction.won"]}),
    row("GET",   "webhooks/{pk}/",                   200, 404, 404, 404, 403, 403, 404, 404, 401,
        pk="webhook"),
    row("PATCH", "webhooks/{pk}/",                   200, 404, 404, 404, 403, 403, 404, 404, 401,
        pk="webhook", body={"active": False}),
    row("DELETE", "webhooks/{pk}/",                  204, 404, 404, 404, 403, 403, 404, 404, 401,
        pk="webhook"),
    row("POST",  "webhooks/{pk}/rotate-secret/",     200, 404, 404, 404, 403, 403, 404, 404, 401,
        pk="webhook"),
    row("GET",   "webhooks/{pk}/deliveries/",        200, 404, 404, 404, 403, 403, 404, 404, 401,
        pk="webhook"),
    row("POST",  "webhooks/{pk}/deliveries/{delivery_id}/redeliver/",
                                                     202, 404, 404, 404, 403, 403, 404, 404, 401,
        pk="webhook", delivery_id="delivery"),
    row("GET",   "me/notification-preferences/",     200, 200, 200, 200, 200, 200, 200, 200, 401),
    row("PUT",   "me/notification-preferences/",     200, 200, 200, 200, 200, 200, 200, 200, 401,
        body={"event_types": ["auction.won"]}),
    # Prometheus metrics: platform users (or the METRICS_TOKEN bearer); hidden from the rest.
    row("GET",   "/metrics",                         404, 404, 404, 404, 404, 404, 200, 200, 401),
    row("GET",   "/api/docs/",                       200, 200, 200, 200, 200, 200, 200, 200, 200),
    # Swagger UI's own files (drf-spectacular-sidecar), public like the page that loads them.
    row("GET",   "/static/{path}",                   200, 200, 200, 200, 200, 200, 200, 200, 200,
        path="=drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"),
    row("GET",   "schema/",                          200, 200, 200, 200, 200, 200, 200, 200, 200),
    # A wrong password is refused whoever asks (the endpoint ignores any token).
    row("POST",  "auth/token/",                      401, 401, 401, 401, 401, 401, 401, 401, 401,
        body={"username": "nobody", "password": "wrong-password"}),
    row("POST",  "auth/logout/",                     204, 204, 204, 204, 204, 204, 204, 204, 401),
    row("GET",   "me/",                              200, 200, 200, 200, 200, 200, 200, 200, 401),
    # ------------------------------------------------------------------ organisations
    row("GET",   "organizations/",                   403, 403, 403, 403, 403, 403, 200, 200, 401,
        sees=sees(compliance=ORG_NAMES, admin=ORG_NAMES)),
    row("POST",  "organizations/",                   403, 403, 403, 403, 403, 403, 201, 201, 401,
        body={"name": "Matrix New Bank", "kind": "bank"}),
    row("GET",   "organizations/{pk}/",              200, 404, 404, 404, 404, 404, 200, 200, 401,
        pk="org:seller"),
    row("GET",   "organizations/{pk}/",              404, 404, 404, 404, 200, 404, 200, 200, 401,
        pk="org:suspended"),
    row("POST",  "organizations/{pk}/members/",      403, 403, 403, 403, 403, 403, 403, 201, 401,
        pk="org:bidder", body=MEMBER),
    row("POST",  "organizations/{pk}/approve/",      403, 403, 403, 403, 403, 403, 200, 403, 401,
        pk="org:pending"),
    row("POST",  "organizations/{pk}/reject/",       403, 403, 403, 403, 403, 403, 200, 403, 401,
        pk="org:pending"),
    row("POST",  "organizations/{pk}/suspend/",      403, 403, 403, 403, 403, 403, 200, 403, 401,
        pk="org:bidder"),
    # ------------------------------------------------------------------ audit, ledger
    row("GET",   "audit-events/",                    403, 403, 403, 403, 403, 403, 200, 200, 401),
    row("GET",   "audit-events/verify/",             403, 403, 403, 403, 403, 403, 200, 200, 401),
    row("GET",   "ledger/verify/",                   403, 403, 403, 403, 403, 403, 200, 200, 401),
    row("GET",   "ledger/balances/",                 200, 200, 200, 200, 200, 200, 200, 200, 401,
        sees=ledger_sees()),
    row("GET",   "ledger/entries/",                  200, 200, 200, 200, 200, 200, 200, 200, 401,
        sees=ledger_sees()),
    row("GET",   "ledger/entries/{pk}/",             404, 404, 200, 404, 404, 404, 200, 200, 401,
        pk="entry"),
    # ------------------------------------------------------------------ packages
    row("GET",   "packages/",                        200, 200, 200, 200, 200, 200, 200, 200, 401,
        sees=sees(seller=OWN_PACKAGES, other_seller=PUBLIC_PACKAGES | {"other_draft"},
                  registered=PUBLIC_PACKAGES, bidder=PUBLIC_PACKAGES, suspended=PUBLIC_PACKAGES,
                  pending=PUBLIC_PACKAGES, compliance=ALL_PACKAGES, admin=ALL_PACKAGES)),
    row("POST",  "packages/",                        201, 201, 403, 403, 403, 403, 403, 403, 401,
        body={"title": "Matrix package", "currency": "CNY", "cut_off_date": "2026-09-30"}),
    row("GET",   "packages/{pk}/",                   200, 404, 404, 404, 404, 404, 200, 200, 401,
        pk="draft"),
    row("GET",   "packages/{pk}/",                   200, 200, 200, 200, 200, 200, 200, 200, 401,
        pk="open_package"),
    row("PATCH", "packages/{pk}/",                   200, 404, 403, 403, 403, 403, 403, 403, 401,
        pk="draft", body={"title": "Renamed by the matrix"}),
    row("PATCH", "packages/{pk}/",                   409, 403, 403, 403, 403, 403, 403, 403, 401,
        pk="listed", body={"title": "Renamed by the matrix"}),
    row("POST",  "packages/{pk}/submit/",            200, 404, 403, 403, 403, 403, 403, 403, 401,
        pk="draft"),
    row("POST",  "packages/{pk}/approve/",           403, 403, 403, 403, 403, 403, 200, 403, 401,
        pk="in_review"),
    row("POST",  "packages/{pk}/reject/",            403, 403, 403, 403, 403, 403, 200, 403, 401,
        pk="in_review", body={"reason": "The tape lacks legal statuses."}),
    row("POST",  "packages/{pk}/withdraw/",          200, 403, 403, 403, 403, 403, 403, 403, 401,
        pk="listed"),
    row("GET",   "packages/{pk}/loan-tape/",         200, 404, 404, 404, 404, 404, 200, 200, 401,
        pk="draft"),
    row("GET",   "packages/{pk}/loan-tape/",         200, 403, 403, 403, 403, 403, 200, 200, 401,
        pk="listed"),
    row("POST",  "packages/{pk}/loan-tape/",         202, 404, 403, 403, 403, 403, 403, 403, 401,
        pk="draft", body=_tape, format="multipart"),
    row("GET",   "packages/{pk}/stratification/",    200, 404, 404, 404, 404, 404, 200, 200, 401,
        pk="draft"),
    row("GET",   "packages/{pk}/stratification/",    200, 200, 200, 200, 200, 200, 200, 200, 401,
        pk="open_package"),
    # Market data (API.md "Market data"): the index for users of approved organisations; the
    # valuation for the seller, the platform and registered buyers (409 here: the world has no
    # deals); risk signals for anyone who may see the package.
    row("GET",   "market/price-index/",              200, 200, 200, 200, 403, 403, 200, 200, 401),
    row("GET",   "packages/{pk}/valuation/",         409, 404, 404, 404, 404, 404, 409, 409, 401,
        pk="draft"),
    row("GET",   "packages/{pk}/valuation/",         409, 403, 409, 403, 403, 403, 409, 409, 401,
        pk="open_package"),
    row("GET",   "packages/{pk}/risk/",              200, 404, 404, 404, 404, 404, 200, 200, 401,
        pk="draft"),
    row("GET",   "packages/{pk}/risk/",              200, 200, 200, 200, 200, 200, 200, 200, 401,
        pk="open_package"),
    # The data room: the seller, the platform and registered buyers (NDA accepted); a suspended
    # buyer no longer (issue 11, item 10).
    row("GET",   "packages/{pk}/loans/",             200, 403, 200, 403, 403, 403, 200, 200, 401,
        pk="open_package"),
    row("GET",   "packages/{pk}/loans/",             200, 403, 200, 403, 403, 403, 200, 200, 401,
        pk="open_package", query="?format=csv"),
    row("GET",   "packages/{pk}/loans/",             200, 404, 404, 404, 404, 404, 200, 200, 401,
        pk="draft"),
    row("GET",   "packages/{pk}/loans/",             200, 200, 200, 200, 200, 200, 200, 200, 401,
        pk="sold_package", query="?owner=me"),
    # ------------------------------------------------------------------ auctions
    row("GET",   "auctions/",                        200, 200, 200, 200, 200, 200, 200, 200, 401,
        sees={role: AUCTIONS for role in ROLES[:-1]}),
    row("POST",  "auctions/",                        201, 403, 403, 403, 403, 403, 403, 403, 401,
        body=_auction_terms),
    row("GET",   "auctions/{pk}/",                   200, 200, 200, 200, 200, 200, 200, 200, 401,
        pk="open_auction"),
    row("POST",  "auctions/{pk}/cancel/",            200, 403, 403, 403, 403, 403, 200, 403, 401,
        pk="open_auction"),
    row("GET",   "auctions/{pk}/registrations/",     200, 200, 200, 200, 200, 200, 200, 200, 401,
        pk="open_auction",
        sees=sees(seller=REGISTRATIONS, other_seller=NOTHING, registered="registration",
                  bidder=NOTHING, suspended="suspended_registration", pending=NOTHING,
                  compliance=REGISTRATIONS, admin=REGISTRATIONS)),
    row("POST",  "auctions/{pk}/registrations/",     403, 403, 409, 201, 403, 403, 403, 403, 401,
        pk="open_auction", body={"accept_nda": True}),
    # The live stream is served by the ASGI process; the WSGI app checks who may see it (401,
    # 404) and then answers 421 naming the stream server (tests/stream drive uvicorn itself).
    row("GET",   "auctions/{pk}/stream/",            421, 421, 421, 421, 421, 421, 421, 421, 401,
        pk="open_auction"),
    row("GET",   "auctions/{pk}/bids/",              200, 403, 200, 403, 200, 403, 200, 200, 401,
        pk="open_auction"),
    row("POST",  "auctions/{pk}/bids/",              403, 403, 201, 403, 403, 403, 403, 403, 401,
        pk="open_auction", body={"amount": "8100000.00"}),
    row("POST",  "registrations/{pk}/confirm-deposit/", 403, 403, 403, 403, 403, 403, 200, 200, 401,
        pk="pending_deposit"),
    # ------------------------------------------------------------------ settlements, transfers
    row("GET",   "settlements/",                     200, 200, 200, 200, 200, 200, 200, 200, 401,
        sees=sees(seller=SETTLEMENTS, other_seller=NOTHING, registered="awarded sold",
                  bidder=NOTHING, suspended=NOTHING, pending=NOTHING,
                  compliance=SETTLEMENTS, admin=SETTLEMENTS)),
    row("GET",   "settlements/{pk}/",                200, 404, 200, 404, 404, 404, 200, 200, 401,
        pk="awarded"),
    row("POST",  "settlements/{pk}/confirm-payment/", 403, 403, 403, 403, 403, 403, 200, 200, 401,
        pk="awarded", body=_payment),
    row("POST",  "settlements/{pk}/offer-runner-up/", 201, 404, 403, 403, 403, 403, 403, 403, 401,
        pk="defaulted"),
    row("GET",   "transfers/",                       200, 200, 200, 200, 200, 200, 200, 200, 401,
        sees=sees(seller="transfer", other_seller=NOTHING, registered="transfer", bidder=NOTHING,
                  suspended=NOTHING, pending=NOTHING, compliance="transfer", admin="transfer")),
    row("GET",   "transfers/{pk}/",                  200, 404, 200, 404, 404, 404, 200, 200, 401,
        pk="transfer"),
    row("GET",   "transfers/{pk}/loans/",            200, 404, 200, 404, 404, 404, 200, 200, 401,
        pk="transfer"),
    row("GET",   "transfers/{pk}/loans/",            200, 404, 200, 404, 404, 404, 200, 200, 401,
        pk="transfer", query="?format=csv"),
]
# fmt: on

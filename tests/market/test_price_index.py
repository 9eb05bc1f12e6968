"""The price index over HTTP: figures, suppression, parameters, CSV, who may read it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import index
from market.models import Deal
from market.segments import quarter_of
from tests.factories import DealFactory, OrganizationFactory, make_bidder
from tests.support import assert_problem, client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/market/price-index/"


def _deal(seller, ratio: str, balance: str, *, days_ago: int = 30, **fields) -> Deal:
    balance_d = Decimal(balance)
    price = (balance_d * Decimal(ratio)).quantize(Decimal("0.01"))
    return DealFactory(
        seller=seller,
        days_ago=days_ago,
        total_balance=balance_d,
        total_principal=balance_d,
        price=price,
        price_to_balance=Decimal(ratio),
        price_to_principal=Decimal(ratio),
        **fields,
    )


def test_a_cell_shows_volume_weighted_and_median_figures(bidder_client):
    banks = [OrganizationFactory(kind="bank") for _ in range(3)]
    for bank, ratio, balance in zip(
        banks, ["0.10", "0.05", "0.02"], ["1000000.00", "3000000.00", "1000000.00"], strict=True
    ):
        _deal(bank, ratio, balance, product_type="credit_card")
    quarter = quarter_of(timezone.now() - dt.timedelta(days=30))

    body = bidder_client.get(URL, {"group_by": "quarter,product_type"}).json()

    [row] = body["results"]
    assert row["segment"] == {"quarter": quarter, "product_type": "credit_card"}
    assert row["suppressed"] is False
    assert (row["deals"], row["sellers"]) == (3, 3)
    assert row["total_balance"] == "5000000.00"
    assert row["total_price"] == "270000.00"
    assert row["price_to_balance"] == "0.054000"  # 270,000 / 5,000,000
    assert row["median_price_to_balance"] == "0.050000"
    assert row["price_to_principal"] == "0.054000"


def test_two_sellers_are_not_enough_whatever_the_deal_count(bidder_client):
    banks = [OrganizationFactory(kind="bank") for _ in range(2)]
    for n in range(6):
        _deal(banks[n % 2], "0.05", "1000000.00")

    [row] = bidder_client.get(URL).json()["results"]

    assert row == {"segment": row["segment"], "suppressed": True}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    deals=st.lists(
        st.tuples(
            st.integers(0, 4),  # seller
            st.sampled_from(["credit_card", "consumer_loan", "personal_business_loan"]),
            st.sampled_from(["0-89", "366-730", "1096+"]),
            st.integers(0, 2),  # quarter
            st.integers(1, 200),  # price share, thousandths
        ),
        min_size=0,
        max_size=14,
    ),
    group_by=st.lists(
        st.sampled_from(["quarter", "product_type", "dpd_bucket"]), min_size=1, max_size=3
    ),
)
def test_no_shown_cell_has_fewer_than_three_deals_or_sellers(bidder_client, deals, group_by):
    """Property: over random histories, every cell with figures has >= 3 deals of >= 3 sellers
    (recounted here from the deals), and every suppressed cell carries no figure."""
    Deal.objects.all().delete()
    banks = [OrganizationFactory(kind="bank") for _ in range(5)]
    made = [
        _deal(
            banks[s],
            f"{p / 1000:.3f}",
            "1000000.00",
            days_ago=10 + 92 * q,
            product_type=product,
            dpd_bucket=dpd,
        )
        for s, product, dpd, q, p in deals
    ]

    body = bidder_client.get(URL, {"group_by": ",".join(group_by)}).json()

    keys = list(dict.fromkeys(group_by))
    assert sum(1 for _ in body["results"]) == len(
        {tuple(getattr(d, k) for k in keys) for d in made}
    )
    for row in body["results"]:
        members = [d for d in made if all(getattr(d, k) == row["segment"][k] for k in keys)]
        sellers = {d.seller_id for d in members}
        if row["suppressed"]:
            assert set(row) == {"segment", "suppressed"}
            assert len(members) < 3 or len(sellers) < 3
        else:
            assert len(members) >= 3 and len(sellers) >= 3
            assert row["deals"] == len(members) and row["sellers"] == len(sellers)
            median = statistics.median(d.price_to_balance for d in members)
            assert Decimal(row["median_price_to_balance"]) == median.quantize(Decimal("0.000001"))


def test_filters_and_csv(bidder_client):
    banks = [OrganizationFactory(kind="bank") for _ in range(3)]
    for n in range(6):
        product = "credit_card" if n < 3 else "consumer_loan"
        _deal(banks[n % 3], "0.04", "1000000.00", product_type=product)

    rows = bidder_client.get(URL, {"group_by": "product_type", "product_type": "credit_card"})
    csv_answer = bidder_client.get(URL, {"group_by": "product_type", "format": "csv"})

    assert [r["segment"] for r in rows.json()["results"]] == [{"product_type": "credit_card"}]
    assert csv_answer.status_code == 200
    assert csv_answer["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(csv_answer.streaming_content).decode())))
    assert lines[0] == ["product_type", "suppressed", *index.FIGURES]
    assert [line[0] for line in lines[1:]] == ["consumer_loan", "credit_card"]
    assert lines[1][2:4] == ["3", "3"] and lines[1][7] == "0.040000"


def test_quarter_range_filter(bidder_client):
    banks = [OrganizationFactory(kind="bank") for _ in range(3)]
    for n in range(6):
        _deal(banks[n % 3], "0.04", "1000000.00", days_ago=10 if n < 3 else 400)
    recent = quarter_of(timezone.now() - dt.timedelta(days=10))

    body = bidder_client.get(URL, {"quarter_from": recent, "quarter_to": recent}).json()

    assert [r["segment"]["quarter"] for r in body["results"]] == [recent]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"group_by": "seller"}, "group_by"),
        ({"group_by": "quarter,package"}, "group_by"),
        ({"quarter_from": "2026-Q1"}, "quarter_from"),
        ({"quarter_to": "2026Q5"}, "quarter_to"),
        ({"product_type": "mortgage"}, "product_type"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_parameters_are_400(bidder_client, params, field):
    body = assert_problem(bidder_client.get(URL, params), 400, "validation_error", with_errors=True)
    assert field in body["errors"]


def test_who_may_read_the_index(api, role_clients, db):
    assert_problem(api.get(URL), 401, "not_authenticated")
    for client in role_clients.values():
        assert client.get(URL).status_code == 200
    pending = make_bidder(eligibility="pending")
    suspended = make_bidder(eligibility="suspended")
    for user in (pending, suspended):
        assert_problem(client_for(user).get(URL), 403, "permission_denied")


def test_no_deal_no_row(bidder_client):
    assert bidder_client.get(URL).json()["results"] == []

"""The demo client's recomputation of a transfer's digest (API.md "Transfer digest") agrees
with the registry's, from the loan schedule CSV exactly as the API streams it."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from settlement.models import Settlement
from tests.factories import TransferFactory
from tests.settlement.conftest import paid_settlement_of
from tests.support import client_for
from tools.demo.settle import schedule_digest

pytestmark = pytest.mark.django_db


def test_the_demo_recomputes_the_registry_digest_from_the_schedule(seller_user, tape_storage):
    # Out of byte order, lower and upper case, and an id the export guards with a quote.
    ids = ["CN-000002", "cn-000001", "=SUM(1)", "CN-A0001", "-7", "CN-000010"]
    transfer = TransferFactory(settlement=paid_settlement_of(seller_user, loan_ids=ids))
    buyer = Settlement.objects.get(pk=transfer.settlement_id).bid.registration.registered_by
    response = client_for(buyer).get(f"/api/v1/transfers/{transfer.pk}/loans/?format=csv")
    schedule = b"".join(response.streaming_content).decode("utf-8")

    digest, count, total = schedule_digest(schedule)

    assert (digest, count, total) == (transfer.digest, 6, transfer.total_balance)


def test_a_changed_balance_changes_the_digest(seller_user, tape_storage):
    transfer = TransferFactory(settlement=paid_settlement_of(seller_user))
    buyer = Settlement.objects.get(pk=transfer.settlement_id).bid.registration.registered_by
    response = client_for(buyer).get(f"/api/v1/transfers/{transfer.pk}/loans/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    rows[0]["balance"] = str(Decimal(rows[0]["balance"]) + Decimal("0.01"))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)

    assert schedule_digest(out.getvalue())[0] != transfer.digest

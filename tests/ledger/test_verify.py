"""``manage.py verify_ledger`` and ``GET /ledger/verify/`` find an unbalanced transaction, a
half-booked payout and a deposit whose state disagrees with the ledger. The database refuses to
write the first two, so the tests switch its triggers off (``session_replication_role``, within
the test's transaction only) to simulate a bug or an edit behind the ledger's back."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from bidding.models import Registration
from marketplace.ledger import movements
from marketplace.ledger.models import AccountKind, Entry, EntryKind
from marketplace.ledger.services import Leg, ledger_post
from marketplace.ledger.verify import ledger_verify

pytestmark = pytest.mark.django_db


def triggers_off() -> None:
    """Switch the ledger's triggers off for the rest of the test's transaction. The balance
    checks still pending for the entries written so far run first (they would otherwise run at
    the test's end, over the edited rows, as the deferred constraint trigger must)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SET LOCAL session_replication_role = replica")


def run_command() -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("verify_ledger", stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code)
    return code, json.loads(out.getvalue())


def test_a_sound_ledger_verifies(closed_sale):
    code, body = run_command()

    assert code == 0
    assert body["valid"] is True and body["registrations_checked"] == 2


def test_an_edited_amount_is_found(closed_sale):
    entry = Entry.objects.filter(kind=EntryKind.SETTLEMENT_DUE).order_by("id").first()
    triggers_off()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_entry SET amount = amount + 1 WHERE id = %s", [entry.pk])

    code, body = run_command()

    assert code == 1
    assert body["valid"] is False
    assert body["first_invalid"]["check"] == "transaction_balanced"
    assert body["first_invalid"]["transaction_id"] == str(entry.transaction_id)


def test_a_deleted_half_of_a_transaction_is_found(closed_sale):
    entry = Entry.objects.get(
        registration_id=closed_sale.loser.pk,
        kind=EntryKind.DEPOSIT_RELEASED,
        account__kind=AccountKind.PLATFORM_CASH,
    )
    triggers_off()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_entry WHERE id = %s", [entry.pk])

    result = ledger_verify()

    assert result.valid is False
    assert result.first_invalid["transaction_id"] == str(entry.transaction_id)
    assert "1 entries" in result.first_invalid["reason"]


def test_a_deposit_state_changed_without_its_posting_is_found(closed_sale):
    # The loser's deposit was released (and posted); its status is set back to held behind the
    # services' back, so the ledger holds nothing for a deposit said to be held.
    Registration.objects.filter(pk=closed_sale.loser.pk).update(deposit_status="held")

    result = ledger_verify()

    assert result.valid is False
    assert result.first_invalid == {
        "check": "deposit_matches",
        "registration_id": closed_sale.loser.pk,
        "reason": "deposit is held (400000.00 expected held), deposits_held has 0",
    }


def test_a_deposit_held_for_an_unknown_registration_is_found(closed_sale):
    with transaction.atomic():
        movements.deposit_held(
            buyer_id=closed_sale.loser.buyer_id, amount=Decimal("5.00"), registration_id=999_999
        )

    result = ledger_verify()

    assert result.valid is False
    assert result.first_invalid["registration_id"] == 999_999


def test_a_half_booked_payout_is_found(closed_sale):
    with transaction.atomic():
        ledger_post(  # a payout that forgot its cash leg: balanced, but not cleared
            kind=EntryKind.SELLER_PAYOUT,
            legs=[
                Leg(closed_sale.seller_id, AccountKind.SELLER_PAYABLE, Decimal("9.00")),
                Leg(closed_sale.seller_id, AccountKind.SELLER_PAID, Decimal("-9.00")),
            ],
            currency="CNY",
            settlement_id=closed_sale.settlement.pk,
        )

    result = ledger_verify()

    assert result.valid is False
    assert result.first_invalid["check"] == "payout_cleared"
    assert result.first_invalid["organization_id"] == closed_sale.seller_id


def test_the_endpoint_reports_the_first_problem(compliance_client, closed_sale):
    Registration.objects.filter(pk=closed_sale.winner.pk).update(deposit_status="held")

    body = compliance_client.get("/api/v1/ledger/verify/").json()

    assert body["valid"] is False
    assert body["first_invalid"]["check"] == "deposit_matches"
    assert body["first_invalid"]["registration_id"] == closed_sale.winner.pk

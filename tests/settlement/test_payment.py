"""Confirm-payment (API.md "Settlements"): the platform confirms the balance due exactly; the
settlement becomes ``paid`` and the transfer of ownership is enqueued after commit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace.audit.models import AuditEvent
from marketplace.common.errors import InvalidState, InvalidValue, ValidationFailed
from settlement.errors import AmountMismatch
from settlement.models import Settlement
from settlement.payments import TRANSFER_TASK, settlement_confirm_payment
from tests.support import assert_problem, client_for

pytestmark = pytest.mark.django_db


def url(settlement: Settlement) -> str:
    return f"/api/v1/settlements/{settlement.pk}/confirm-payment/"


def paid_events(settlement: Settlement) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action="settlement.paid", object_type="settlement", object_id=str(settlement.pk)
        )
    )


# --------------------------------------------------------------------------- services


def test_payment_of_the_balance_due_marks_the_settlement_paid_and_enqueues_the_transfer(
    three_bidders, compliance_user, sent_tasks, django_capture_on_commit_callbacks
):
    settlement = three_bidders.settlement
    assert settlement.balance_due == Decimal("8600000.00")  # 9.0M less the 400k deposit

    with django_capture_on_commit_callbacks(execute=True):
        settlement_confirm_payment(
            actor=compliance_user,
            settlement_id=settlement.pk,
            amount="8600000.00",
            reference="  CNAPS-2026-000123  ",
        )
        assert sent_tasks == []  # nothing leaves before the commit

    settlement.refresh_from_db()
    assert settlement.status == "paid"
    assert settlement.paid_at is not None
    assert settlement.payment_reference == "CNAPS-2026-000123"
    assert sent_tasks == [(TRANSFER_TASK, [settlement.pk])]
    [event] = paid_events(settlement)
    assert event.data["amount"] == "8600000.00"
    assert event.data["reference"] == "CNAPS-2026-000123"
    assert event.actor_user_id == compliance_user.pk


def test_an_amount_other_than_the_balance_due_is_refused_and_changes_nothing(
    three_bidders, compliance_user, sent_tasks, django_capture_on_commit_callbacks
):
    settlement = three_bidders.settlement

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(AmountMismatch) as refused,
    ):
        settlement_confirm_payment(
            actor=compliance_user,
            settlement_id=settlement.pk,
            amount=Decimal("8599999.99"),
            reference="R-1",
        )

    assert refused.value.extra == {"expected_amount": "8600000.00"}
    settlement.refresh_from_db()
    assert settlement.status == "awaiting_payment"
    assert settlement.payment_reference == ""
    assert sent_tasks == []
    assert paid_events(settlement) == []


def test_a_second_confirmation_is_refused_not_a_second_payment(three_bidders, compliance_user):
    settlement = three_bidders.settlement
    confirm = {"settlement_id": settlement.pk, "amount": "8600000.00", "reference": "R-1"}
    settlement_confirm_payment(actor=compliance_user, **confirm)

    with pytest.raises(InvalidState) as refused:
        settlement_confirm_payment(actor=compliance_user, **confirm)

    assert refused.value.extra == {"current_status": "paid"}
    assert len(paid_events(settlement)) == 1


@pytest.mark.parametrize("reference", ["", "   ", "R" * 141])
def test_a_reference_is_required_and_of_sane_length(three_bidders, compliance_user, reference):
    with pytest.raises(ValidationFailed):
        settlement_confirm_payment(
            actor=compliance_user,
            settlement_id=three_bidders.settlement.pk,
            amount="8600000.00",
            reference=reference,
        )


@pytest.mark.parametrize("amount", ["8600000.001", "8.6e6", "-8600000.00", "abc"])
def test_the_amount_is_a_plain_non_negative_decimal(three_bidders, compliance_user, amount):
    with pytest.raises(InvalidValue):
        settlement_confirm_payment(
            actor=compliance_user,
            settlement_id=three_bidders.settlement.pk,
            amount=amount,
            reference="R-1",
        )


def test_a_price_the_deposit_covers_is_paid_with_zero(sale, compliance_user):
    covered = sale(["9000000.00"], deposit_amount=Decimal("9000000.00"))
    assert covered.settlement.balance_due == Decimal("0.00")

    settlement_confirm_payment(
        actor=compliance_user, settlement_id=covered.settlement.pk, amount="0.00", reference="-"
    )

    covered.settlement.refresh_from_db()
    assert covered.settlement.status == "paid"


# --------------------------------------------------------------------------- HTTP


def test_the_platform_confirms_payment_over_http(three_bidders, admin_client, sent_tasks):
    settlement = three_bidders.settlement

    response = admin_client.post(
        url(settlement), {"amount": "8600000.00", "reference": "HX-99"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "paid"
    assert body["payment_reference"] == "HX-99"
    assert body["paid_at"] is not None
    assert body["balance_due"] == "8600000.00"


def test_amount_mismatch_over_http_carries_the_expected_amount(three_bidders, compliance_client):
    response = compliance_client.post(
        url(three_bidders.settlement), {"amount": "8600000.10", "reference": "X"}, format="json"
    )

    body = assert_problem(response, 409, "amount_mismatch")
    assert body["expected_amount"] == "8600000.00"


def test_confirming_a_paid_settlement_over_http_is_invalid_state(
    three_bidders, compliance_client, sent_tasks
):
    body = {"amount": "8600000.00", "reference": "X"}
    assert (
        compliance_client.post(url(three_bidders.settlement), body, format="json").status_code
        == 200
    )

    problem = assert_problem(
        compliance_client.post(url(three_bidders.settlement), body, format="json"),
        409,
        "invalid_state",
    )
    assert problem["current_status"] == "paid"


@pytest.mark.parametrize("role", ["disposal_officer", "bidder"])
def test_only_the_platform_confirms_payment(three_bidders, role_clients, client_for_winner, role):
    clients = {**role_clients, "bidder": client_for_winner}
    response = clients[role].post(
        url(three_bidders.settlement), {"amount": "8600000.00", "reference": "X"}, format="json"
    )

    assert_problem(response, 403, "permission_denied")
    three_bidders.settlement.refresh_from_db()
    assert three_bidders.settlement.status == "awaiting_payment"


@pytest.fixture
def client_for_winner(three_bidders):
    return client_for(three_bidders.bidders[-1])


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"amount": "8600000.00"}, "validation_error", "reference"),
        ({"amount": "8600000.00", "reference": ""}, "validation_error", "reference"),
        ({"reference": "X"}, "validation_error", "amount"),
        ({"amount": "8,600,000.00", "reference": "X"}, "invalid_value", "amount"),
    ],
)
def test_invalid_bodies_are_400(three_bidders, compliance_client, body, code, field):
    response = compliance_client.post(url(three_bidders.settlement), body, format="json")

    problem = assert_problem(response, 400, code, with_errors=True)
    assert field in problem["errors"]


def test_an_unknown_settlement_is_404(compliance_client):
    response = compliance_client.post(
        "/api/v1/settlements/999999/confirm-payment/",
        {"amount": "1.00", "reference": "X"},
        format="json",
    )

    assert_problem(response, 404, "not_found")


def test_a_repeat_with_the_same_idempotency_key_replays_the_first_answer(
    three_bidders, compliance_client, sent_tasks, django_capture_on_commit_callbacks
):
    settlement = three_bidders.settlement
    body = {"amount": "8600000.00", "reference": "HX-1"}

    with django_capture_on_commit_callbacks(execute=True):
        first = compliance_client.post(
            url(settlement), body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1"
        )
    with django_capture_on_commit_callbacks(execute=True):
        second = compliance_client.post(
            url(settlement), body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1"
        )

    assert first.status_code == 200, first.content
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert len(paid_events(settlement)) == 1
    assert sent_tasks == [(TRANSFER_TASK, [settlement.pk])]


def test_a_payment_amount_as_a_json_number_is_400(three_bidders, compliance_client):
    """Issue 11, item 10: amounts are decimal strings only; a JSON number is a float already."""
    settlement = three_bidders.settlement
    path = f"/api/v1/settlements/{settlement.pk}/confirm-payment/"
    body = '{"amount": 8600000.00, "reference": "PAY-1"}'

    response = compliance_client.post(path, body, content_type="application/json")

    assert_problem(response, 400, "invalid_value", with_errors=True)
    assert Settlement.objects.get(pk=settlement.pk).status == "awaiting_payment"

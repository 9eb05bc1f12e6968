"""The test-support kit itself: a factory for every model, each building a valid, saved object;
the shared fixtures are in the states they promise; ``assert_problem`` refuses what is not a
problem of the expected status and code."""

from __future__ import annotations

import inspect

import pytest
from django.apps import apps
from django.http import HttpResponse, JsonResponse

from bidding.models import Registration
from settlement.models import Settlement
from tests import factories
from tests.support import assert_problem

PROJECT_PACKAGES = (
    "marketplace.",
    "listings.",
    "bidding.",
    "settlement.",
    "market.",
    "notifications.",
)
FACTORIES = sorted(
    (
        obj
        for obj in vars(factories).values()
        if inspect.isclass(obj)
        and issubclass(obj, factories.factory.django.DjangoModelFactory)
        and obj._meta.model is not None
    ),
    key=lambda f: f.__name__,
)


def project_models() -> set[type]:
    return {m for m in apps.get_models() if m.__module__.startswith(PROJECT_PACKAGES)}


def test_every_model_of_the_project_has_a_factory():
    covered = {f._meta.model for f in FACTORIES}

    missing = sorted(m.__name__ for m in project_models() - covered)

    assert missing == []
    assert len(project_models()) >= 13  # the apps' models were found at all


@pytest.mark.django_db
@pytest.mark.parametrize("factory_class", FACTORIES, ids=lambda f: f.__name__)
def test_each_factory_builds_a_valid_saved_object(factory_class, tape_storage):
    obj = factory_class()

    model = factory_class._meta.model
    assert isinstance(obj, model)
    assert obj.pk is not None and model.objects.filter(pk=obj.pk).exists()
    model.objects.get(pk=obj.pk).full_clean()


def test_users_of_each_kind_of_organisation(
    seller_user, other_bank_user, bidder_user, granted_buyer_user, compliance_user, admin_user
):
    def kind(user):
        org = user.organization
        return (org.kind, org.eligibility, user.role)

    assert kind(seller_user) == kind(other_bank_user) == ("bank", "approved", "disposal_officer")
    assert kind(bidder_user) == kind(granted_buyer_user) == ("buyer", "approved", "bidder")
    assert seller_user.organization_id != other_bank_user.organization_id
    assert bidder_user.organization_id != granted_buyer_user.organization_id
    assert kind(compliance_user) == ("platform", "approved", "compliance_officer")
    assert kind(admin_user) == ("platform", "approved", "platform_admin")


@pytest.mark.django_db
def test_package_with_tape_has_its_loans(package_with_tape):
    assert package_with_tape.status == "draft"
    assert package_with_tape.current_tape.status == "succeeded"
    assert package_with_tape.loan_count == 5 == package_with_tape.loans.count()
    assert package_with_tape.currency == "CNY"


@pytest.mark.django_db
def test_listed_package_went_through_review(listed_package, seller_user):
    assert listed_package.status == "approved"
    assert listed_package.seller_id == seller_user.organization_id
    assert listed_package.loan_count == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fixture", "status", "outcome", "settlements"),
    [
        ("auction_scheduled", "scheduled", "", 0),
        ("auction_open", "open", "", 0),
        ("auction_awarded", "closed", "awarded", 1),
        ("auction_no_sale", "closed", "no_sale", 0),
        ("auction_cancelled", "cancelled", "", 0),
    ],
)
def test_an_auction_in_each_state(request, fixture, status, outcome, settlements):
    auction = request.getfixturevalue(fixture)

    assert (auction.status, auction.outcome) == (status, outcome)
    assert Settlement.objects.filter(auction=auction).count() == settlements
    if outcome == "awarded":
        [registration] = Registration.objects.filter(auction=auction)
        assert auction.winner_id == registration.buyer_id
        assert auction.package.status == "in_auction"
    if outcome == "no_sale":
        assert auction.package.status == "approved"


def _problem(status: int, code: str, **extra) -> HttpResponse:
    body = {
        "type": f"urn:npl-marketplace:problem:{code}",
        "title": "Conflict",
        "status": status,
        "detail": "The package is sold.",
        "code": code,
        **extra,
    }
    return JsonResponse(body, status=status, content_type="application/problem+json")


def test_assert_problem_accepts_a_problem_and_returns_its_body():
    assert assert_problem(_problem(409, "invalid_state"), 409, "invalid_state")["status"] == 409


@pytest.mark.parametrize(
    ("status", "code", "expected_status", "expected_code", "content_type"),
    [
        (409, "invalid_state", 400, "invalid_state", "application/problem+json"),
        (409, "not_found", 409, "invalid_state", "application/problem+json"),
        (409, "invalid_state", 409, "invalid_state", "application/json"),
    ],
    ids=["other-status", "other-code", "not-problem-json"],
)
def test_assert_problem_refuses_anything_else(
    status, code, expected_status, expected_code, content_type
):
    response = _problem(status, code)
    response["Content-Type"] = content_type

    with pytest.raises(AssertionError):
        assert_problem(response, expected_status, expected_code)


def test_assert_problem_checks_errors_when_told():
    with_errors = _problem(409, "invalid_state", errors={"title": ["Required."]})

    assert_problem(with_errors, 409, "invalid_state", with_errors=True)
    with pytest.raises(AssertionError):
        assert_problem(with_errors, 409, "invalid_state", with_errors=False)
    with pytest.raises(AssertionError):
        assert_problem(_problem(409, "invalid_state"), 409, "invalid_state", with_errors=True)

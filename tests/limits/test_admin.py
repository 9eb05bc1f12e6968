"""The Django admin: platform staff only, and its login behind the same limits as the API's."""

from __future__ import annotations

import pytest
from django.test import Client

from marketplace.accounts.admin import MemberChangeForm
from marketplace.accounts.admin_site import is_platform_staff
from tests.factories import UserFactory
from tests.support import PASSWORD, assert_problem

LOGIN = "/admin/login/"


def admin_login(client: Client, username: str, password: str = PASSWORD, address="10.3.0.1"):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def platform_staff(platform_org):
    return UserFactory(
        organization=platform_org, role="platform_admin", username="ops", is_staff=True
    )


@pytest.fixture
def bank_staff(bank_org):
    """A bank's user with the staff flag set anyway (e.g. through the shell)."""
    return UserFactory(
        organization=bank_org, role="disposal_officer", username="bankops", is_staff=True
    )


def test_platform_staff_log_in_and_reach_the_admin(platform_staff):
    client = Client()

    response = admin_login(client, "ops")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_non_platform_user_cannot_reach_the_admin_whatever_its_flags(bank_staff):
    client = Client()

    response = admin_login(client, "bankops")

    assert response.status_code == 200  # the form again, with its error
    assert b"correct username and password" in response.content
    client.force_login(bank_staff)  # even with a session
    assert client.get("/admin/").status_code == 302  # to the login page
    assert not is_platform_staff(bank_staff)


def test_shell_superusers_without_an_organisation_are_platform_staff(db):
    operator = UserFactory(
        organization=None, role="", username="root", is_staff=True, is_superuser=True
    )
    assert is_platform_staff(operator)


def test_the_admin_user_form_refuses_staff_flags_on_non_platform_users(bank_staff, platform_org):
    data = {
        "username": "bankops",
        "organization": bank_staff.organization_id,
        "role": "disposal_officer",
        "is_staff": "on",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    form = MemberChangeForm(data=data, instance=bank_staff)
    assert not form.is_valid()
    assert "Only platform users" in str(form.errors)

    form = MemberChangeForm(data={**data, "organization": platform_org.pk}, instance=bank_staff)
    assert "Only platform users" not in str(form.errors)


def test_admin_logins_go_through_the_login_limits(platform_staff, api):
    client = Client()
    statuses = [admin_login(client, "ops", "wrong").status_code for _ in range(7)]

    assert statuses == [200] * 5 + [429] * 2
    refused = admin_login(client, "ops")  # the right password: locked all the same
    assert_problem(refused, 429, "throttled")
    assert int(refused["Retry-After"]) >= 1
    # One limiter: the API's token endpoint sees the same lock.
    response = api.post(
        "/api/v1/auth/token/", {"username": "ops", "password": PASSWORD}, REMOTE_ADDR="10.3.0.9"
    )
    assert response.status_code == 429

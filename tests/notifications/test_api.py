"""The webhook and preference endpoints over HTTP (API.md "Events, webhooks, live stream"):
own organisation only, the secret shown on create and rotation only, deliveries listed with
their fields, redelivery 202, and every refusal a problem+json."""

from __future__ import annotations

import pytest

from marketplace.accounts import services as accounts
from notifications.models import Delivery, WebhookEndpoint
from tests.factories import OrganizationFactory, UserFactory
from tests.notifications.conftest import drain
from tests.support import assert_problem, client_for

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"
PREFS = "/api/v1/me/notification-preferences/"
URL = "http://127.0.0.1:9/hooks"


def create(client, **body):
    body = {"url": URL, "event_types": ["auction.won"], **body}
    return client.post(WEBHOOKS, body, format="json")


@pytest.fixture
def endpoint(bidder_client):
    response = create(bidder_client)
    assert response.status_code == 201, response.content
    return response.json()


def every_path(endpoint_id: int, delivery_id: int = 1) -> list[tuple[str, str]]:
    one = f"{WEBHOOKS}{endpoint_id}/"
    return [
        ("get", WEBHOOKS),
        ("post", WEBHOOKS),
        ("get", one),
        ("patch", one),
        ("delete", one),
        ("post", f"{one}rotate-secret/"),
        ("get", f"{one}deliveries/"),
        ("post", f"{one}deliveries/{delivery_id}/redeliver/"),
    ]


def call(client, method, path):
    body = {"url": URL, "event_types": ["auction.won"]} if method in ("post", "patch") else None
    return getattr(client, method)(path, body, format="json")


def test_create_shows_the_secret_once(bidder_client, endpoint):
    assert endpoint["secret"].startswith("whsec_")
    assert set(endpoint) >= {"id", "url", "event_types", "active", "secret", "created_at"}
    assert endpoint["active"] is True and endpoint["event_types"] == ["auction.won"]

    listed = bidder_client.get(WEBHOOKS).json()
    one = bidder_client.get(f"{WEBHOOKS}{endpoint['id']}/").json()

    assert listed["count"] == 1 and "secret" not in listed["results"][0]
    assert "secret" not in one and one["url"] == URL


def test_patch_changes_and_reactivation_resets_failures(bidder_client, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint["id"]).update(active=False, consecutive_failures=9)

    response = bidder_client.patch(
        f"{WEBHOOKS}{endpoint['id']}/",
        {"active": True, "event_types": ["bid.outbid", "auction.lost"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] is True and body["consecutive_failures"] == 0
    assert body["event_types"] == ["bid.outbid", "auction.lost"] and "secret" not in body


def test_rotation_gives_a_new_secret(bidder_client, endpoint):
    response = bidder_client.post(f"{WEBHOOKS}{endpoint['id']}/rotate-secret/")

    assert response.status_code == 200
    assert response.json()["secret"].startswith("whsec_")
    assert response.json()["secret"] != endpoint["secret"]
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert stored.previous_secret == endpoint["secret"]


def test_delete(bidder_client, endpoint):
    assert bidder_client.delete(f"{WEBHOOKS}{endpoint['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_deliveries_are_listed_and_can_be_redelivered(compliance_user, receiver):
    client = client_for(compliance_user)
    created = create(client, url=receiver().url, event_types=["organization.approved"]).json()
    org = OrganizationFactory(kind="buyer", eligibility="pending")
    accounts.organization_approve(actor=compliance_user, organization_id=org.pk)
    drain()

    listed = client.get(f"{WEBHOOKS}{created['id']}/deliveries/").json()

    (row,) = listed["results"]
    assert set(row) >= {
        "id", "event_id", "event_type", "status", "attempts", "response_status",
        "last_error", "next_attempt_at", "delivered_at",
    }  # fmt: skip
    assert row["event_id"].startswith("evt_") and row["event_type"] == "organization.approved"
    assert (row["status"], row["attempts"], row["response_status"]) == ("delivered", 1, 200)
    redeliver = client.post(f"{WEBHOOKS}{created['id']}/deliveries/{row['id']}/redeliver/")
    assert redeliver.status_code == 202
    assert Delivery.objects.get(pk=row["id"]).status == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {"url": URL, "event_types": []},
        {"url": URL, "event_types": ["no.such_type"]},
        {"url": URL},
        {"event_types": ["auction.won"]},
        {"url": URL, "event_types": "auction.won"},
        {"url": URL, "event_types": ["auction.won"], "active": "maybe"},
    ],
)
def test_bad_input_is_400_and_creates_nothing(bidder_client, body):
    response = bidder_client.post(WEBHOOKS, body, format="json")

    assert_problem(response, 400, "validation_error", with_errors=True)
    assert not WebhookEndpoint.objects.exists()


def test_no_token_is_401_everywhere(api, db):
    for method, path in every_path(1):
        assert_problem(call(api, method, path), 401, "not_authenticated")


def test_a_user_of_an_unapproved_organisation_is_403(db):
    pending = UserFactory(
        organization=OrganizationFactory(kind="buyer", eligibility="pending"), role="bidder"
    )
    client = client_for(pending)

    for method, path in every_path(1):
        assert_problem(call(client, method, path), 403, "permission_denied")


def test_another_organisations_endpoint_is_404(endpoint, granted_buyer_client, seller_client):
    for client in (granted_buyer_client, seller_client):
        for method, path in every_path(endpoint["id"])[2:]:
            assert_problem(call(client, method, path), 404, "not_found")
        assert client.get(WEBHOOKS).json()["count"] == 0
    assert WebhookEndpoint.objects.get().url == URL


@pytest.mark.parametrize("path", ["999999/", "abc/", "999999/deliveries/"])
def test_unknown_ids_are_404(bidder_client, path):
    assert_problem(bidder_client.get(f"{WEBHOOKS}{path}"), 404, "not_found")


def test_an_unknown_delivery_is_404(bidder_client, endpoint):
    response = bidder_client.post(f"{WEBHOOKS}{endpoint['id']}/deliveries/424242/redeliver/")

    assert_problem(response, 404, "not_found")


# --------------------------------------------------------------------------- preferences


def test_preferences_default_then_chosen(bidder_client, bidder_user):
    first = bidder_client.get(PREFS).json()
    assert "auction.won" in first["event_types"] and "bid.placed" not in first["event_types"]

    response = bidder_client.put(
        PREFS, {"email": "desk@example.com", "event_types": ["bid.placed"]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"email": "desk@example.com", "event_types": ["bid.placed"]}
    assert bidder_client.get(PREFS).json() == response.json()


@pytest.mark.parametrize(
    "body",
    [{"event_types": ["nope"]}, {"email": "not-an-address", "event_types": []}, {}],
)
def test_bad_preferences_are_400(bidder_client, body):
    assert_problem(bidder_client.put(PREFS, body, format="json"), 400, "validation_error")


def test_preferences_need_a_token(api, db):
    assert_problem(api.get(PREFS), 401, "not_authenticated")
    assert_problem(api.put(PREFS, {}, format="json"), 401, "not_authenticated")

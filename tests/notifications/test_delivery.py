"""Webhook deliveries against a real local HTTP receiver: Standard Webhooks signatures, retries
with exponential backoff and jitter, the attempt limit, disabling an endpoint that keeps
failing, secret rotation, redelivery; e-mail through Django's backend; nothing for a change
that rolled back."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from marketplace.accounts import services as accounts
from notifications.models import Delivery, Event, WebhookEndpoint
from notifications.services import delivery as delivery_service
from notifications.services.delivery import backoff
from notifications.services.relay import deliveries_dispatch, events_fan_out
from notifications.services.webhooks import (
    delivery_redeliver,
    webhook_create,
    webhook_rotate_secret,
)
from tests.factories import NotificationPreferenceFactory, OrganizationFactory
from tests.notifications.conftest import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval(compliance_user):
    """``approval()``: approve a new pending buyer; its organisation is told."""

    def make():
        org = OrganizationFactory(kind="buyer", eligibility="pending")
        accounts.organization_approve(actor=compliance_user, organization_id=org.pk)
        return org

    return make


def hook(user, receiver, types=("organization.approved",)) -> tuple[WebhookEndpoint, str]:
    return webhook_create(actor=user, url=receiver.url, event_types=list(types))


def test_a_delivery_is_signed_per_standard_webhooks(receiver, compliance_user, approval):
    r = receiver()
    _endpoint, secret = hook(compliance_user, r)
    org = approval()

    (delivery,) = drain()

    assert delivery.status == "delivered" and delivery.response_status == 200
    (request,) = r.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    event = Event.objects.get(
        type="organization.approved", organization=compliance_user.organization
    )
    assert payload == {
        "id": event.public_id,
        "type": "organization.approved",
        "created_at": payload["created_at"],
        "data": {"organization_id": org.pk, "from": "pending", "to": "approved"},
    }
    assert request.headers["webhook-id"] == event.public_id
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook(
            webhook_create(actor=compliance_user, url=r.url, event_types=["auction.won"])[1]
        ).verify(request.body, request.headers)


def test_failures_are_retried_with_growing_backoff_then_delivered(
    receiver, compliance_user, approval, settings
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    r = receiver(fail_first=2)
    hook(compliance_user, r)
    approval()

    waits = []
    for _ in range(2):
        before = timezone.now()
        (delivery,) = drain()
        waits.append((delivery.next_attempt_at - before).total_seconds())
        assert delivery.status == "pending" and delivery.response_status == 500
        assert "HTTP 500" in delivery.last_error
    (delivery,) = drain()

    assert delivery.status == "delivered" and delivery.attempts == 3
    assert delivery.last_error == "" and delivery.delivered_at is not None
    assert 8 <= waits[0] <= 12.5 and 32 <= waits[1] <= 48.5  # base * 4**(n-1), +-20%
    assert [x.status for x in r.requests] == [500, 500, 200]
    assert len(set(r.ids())) == 1  # the same event id on every attempt


def test_backoff_has_jitter_and_a_cap(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600

    firsts = {backoff(1).total_seconds() for _ in range(50)}

    assert len(firsts) > 40 and all(24 <= s <= 36 for s in firsts)
    assert all(2880 <= backoff(9).total_seconds() <= 4320 for _ in range(20))


def test_a_due_delivery_is_dispatched_only_after_its_backoff(receiver, compliance_user, approval):
    r = receiver(fail_first=1)
    hook(compliance_user, r)
    approval()
    events_fan_out(batch=100)
    (pk,) = Delivery.objects.values_list("pk", flat=True)
    delivery_service.delivery_attempt(delivery_id=pk, attempt=0)

    assert deliveries_dispatch(batch=100) == 0  # waiting for its backoff
    Delivery.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
    assert deliveries_dispatch(batch=100) == 1
    assert deliveries_dispatch(batch=100) == 0  # leased until its task runs or the lease ends


def test_a_duplicate_task_does_not_send_twice(receiver, compliance_user, approval):
    r = receiver()
    hook(compliance_user, r)
    approval()
    events_fan_out(batch=100)
    (pk,) = Delivery.objects.values_list("pk", flat=True)

    first = delivery_service.delivery_attempt(delivery_id=pk, attempt=0)
    second = delivery_service.delivery_attempt(delivery_id=pk, attempt=0)

    assert first is not None and first.ok and second is None
    assert len(r.requests) == 1


def test_after_the_attempt_limit_the_delivery_fails(receiver, compliance_user, approval, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    r = receiver(fail_first=100)
    hook(compliance_user, r)
    approval()

    (delivery,) = drain(rounds=5)

    assert delivery.status == "failed" and delivery.attempts == 3
    assert delivery.next_attempt_at is None and len(r.requests) == 3


def test_an_endpoint_failing_in_a_row_is_disabled_and_its_organisation_told(
    receiver, compliance_user, approval, settings
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    r = receiver(fail_first=100)
    endpoint, _ = hook(compliance_user, r)
    approval()
    approval()

    drain(rounds=3)

    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    assert endpoint.consecutive_failures == 3
    told = Event.objects.get(type="webhook.disabled")
    assert told.organization_id == compliance_user.organization_id
    assert told.data == {"webhook_id": endpoint.pk, "consecutive_failures": 3}
    assert len(r.requests) == 3  # nothing more is sent to a disabled endpoint


def test_a_success_resets_the_failure_count(receiver, compliance_user, approval):
    r = receiver(fail_first=1)
    endpoint, _ = hook(compliance_user, r)
    approval()

    drain()
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1
    drain()
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_during_a_rotation_both_secrets_sign(receiver, compliance_user, approval):
    r = receiver()
    endpoint, old = hook(compliance_user, r)
    new = webhook_rotate_secret(actor=compliance_user, endpoint_id=endpoint.pk)
    approval()

    drain()

    (request,) = r.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(request.body, request.headers)
    assert Webhook(new).verify(request.body, request.headers)


def test_after_the_grace_period_only_the_new_secret_signs(receiver, compliance_user, approval):
    r = receiver()
    endpoint, old = hook(compliance_user, r)
    new = webhook_rotate_secret(actor=compliance_user, endpoint_id=endpoint.pk)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    approval()

    drain()

    (request,) = r.requests
    assert Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_a_redelivery_sends_the_same_event_again(receiver, compliance_user, approval):
    r = receiver()
    endpoint, _ = hook(compliance_user, r)
    approval()
    (delivery,) = drain()

    delivery_redeliver(actor=compliance_user, endpoint_id=endpoint.pk, delivery_id=delivery.pk)
    (again,) = drain()

    assert again.status == "delivered" and again.attempts == 1
    assert len(r.requests) == 2 and r.ids()[0] == r.ids()[1]


def test_only_subscribed_types_reach_an_endpoint(receiver, compliance_user, approval):
    r = receiver()
    hook(compliance_user, r, types=("organization.rejected",))
    approval()

    assert drain() == []
    assert r.requests == []


def test_a_rolled_back_change_sends_nothing(receiver, compliance_user):
    r = receiver()
    hook(compliance_user, r)
    org = OrganizationFactory(kind="buyer", eligibility="pending")

    with pytest.raises(RuntimeError), transaction.atomic():
        accounts.organization_approve(actor=compliance_user, organization_id=org.pk)
        assert Event.objects.filter(type="organization.approved").exists()  # written inside
        raise RuntimeError("the change fails after its event was written")

    assert not Event.objects.filter(type="organization.approved").exists()
    assert drain() == [] and r.requests == []


# --------------------------------------------------------------------------- e-mail


def test_users_get_the_types_they_chose_by_email(compliance_user, admin_user, approval):
    NotificationPreferenceFactory(
        user=compliance_user, email="compliance@example.com", event_types=["organization.approved"]
    )
    NotificationPreferenceFactory(
        user=admin_user, email="admin@example.com", event_types=["organization.rejected"]
    )
    org = approval()

    deliveries = drain()

    assert [d.status for d in deliveries] == ["delivered"]
    (message,) = mail.outbox
    assert message.to == ["compliance@example.com"]
    assert message.subject == f"NPL Marketplace: Organisation {org.pk} was approved."
    assert f"organization_id: {org.pk}" in message.body
    assert "<" not in message.body  # plain text


def test_without_preferences_the_account_address_gets_the_defaults(compliance_user, approval):
    compliance_user.email = "c@example.com"
    compliance_user.save()

    approval()
    drain()

    assert [m.to for m in mail.outbox] == [["c@example.com"]]


def test_the_webhook_body_is_the_event_as_json(receiver, compliance_user, approval):
    r = receiver()
    hook(compliance_user, r)
    approval()
    drain()

    body = json.loads(r.requests[0].body)

    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["created_at"].endswith("Z")

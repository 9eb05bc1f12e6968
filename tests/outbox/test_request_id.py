"""A request's id follows it into the tasks it enqueued, even when the broker was down and a
relay (a worker or beat task with no request, or an id of its own) published them later."""

from __future__ import annotations

import json

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from marketplace.observability import context
from marketplace.observability.task_signals import HEADER
from marketplace.outbox import relay
from marketplace.outbox import services as outbox
from marketplace.outbox.models import OutboxMessage
from tests.bidding.test_worker import private_broker_url, publishing_to
from tests.factories import demo_loan, demo_tape_csv
from tests.outbox.test_outbox import CLOSED_BROKER
from tests.support import make_package

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def broker_up():
    relay.broker.down_until = 0.0
    yield
    relay.broker.down_until = 0.0


def test_a_message_relayed_after_an_outage_carries_its_requests_id(
    seller_user, seller_client, tape_storage, settings, django_capture_on_commit_callbacks
):
    broker_url = private_broker_url()
    queue = redis.Redis.from_url(broker_url)
    queue.delete("imports")
    package = make_package(seller_user)
    tape = demo_tape_csv([demo_loan(n, currency="EUR") for n in range(1, 4)])
    settings.CELERY_BROKER_URL = CLOSED_BROKER  # down while the request commits
    with django_capture_on_commit_callbacks(execute=True):
        response = seller_client.post(
            f"/api/v1/packages/{package.pk}/loan-tape/",
            {"file": SimpleUploadedFile("tape.csv", tape, "text/csv")},
            format="multipart",
            HTTP_X_REQUEST_ID="req-upload-77",
        )
    assert response.status_code == 202, response.content
    assert response["X-Request-ID"] == "req-upload-77"
    message = OutboxMessage.objects.get(task="listings.loan_tape_import")
    assert message.sent_at is None and message.request_id == "req-upload-77"

    # Back; the relay runs later in a worker, under an id of its own.
    settings.CELERY_BROKER_URL = broker_url
    relay.broker.down_until = 0.0
    with publishing_to(broker_url), context.request_id_scope("relay-task-own-id"):
        assert relay.relay() == 1

    published = json.loads(queue.lpop("imports"))
    assert published["headers"]["id"] == str(message.task_id)
    assert published["headers"][HEADER] == "req-upload-77"


def test_a_message_enqueued_outside_a_request_carries_no_request_id(
    settings, django_capture_on_commit_callbacks
):
    broker_url = private_broker_url()
    queue = redis.Redis.from_url(broker_url)
    queue.delete("critical")
    settings.CELERY_BROKER_URL = broker_url
    with (
        publishing_to(broker_url),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        message = outbox.enqueue("outbox.purge")

    assert message.request_id == ""
    published = json.loads(queue.lpop("critical"))
    assert published["headers"]["id"] == str(message.task_id)
    assert HEADER not in published["headers"]

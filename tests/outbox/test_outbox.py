"""The task outbox: a message is a row of the caller's transaction, published after commit when
the broker answers, else by the relay; never lost, and published once per relay pass even
with relays racing (``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from marketplace.outbox import relay
from marketplace.outbox import services as outbox
from marketplace.outbox.models import OutboxMessage
from marketplace.outbox.tasks import outbox_purge
from tests.factories import OutboxMessageFactory

CLOSED_BROKER = "redis://127.0.0.1:9/0"  # nothing listens on port 9: connection refused


class Publisher:
    """Records what leaves for the broker; ``fail`` makes every publish fail as a down broker."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, list, dt.datetime | None, str]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def send_task(self, name, args=None, kwargs=None, eta=None, task_id=None, **options):
        time.sleep(self.delay)
        with self.lock:
            self.sent.append((name, list(args or []), eta, task_id))


@pytest.fixture(autouse=True)
def broker_up():
    relay.broker.down_until = 0.0
    yield
    relay.broker.down_until = 0.0


@pytest.fixture
def publisher(monkeypatch):
    recorder = Publisher()
    monkeypatch.setattr(relay, "current_app", recorder)
    return recorder


@pytest.fixture
def broker_down(settings):
    """The broker unreachable; returns the real broker's URL, to bring it "back"."""
    real = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = CLOSED_BROKER
    return real


@pytest.mark.django_db(transaction=True)
def test_enqueue_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match=r"transaction\.atomic"):
        outbox.enqueue("settlement.auction_close", 1)

    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_message_is_published_after_commit_and_marked_sent(
    publisher, django_capture_on_commit_callbacks
):
    at = timezone.now() + dt.timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            message = outbox.enqueue("settlement.auction_close", 7, eta=at)
        assert publisher.sent == []  # nothing leaves before the commit

    assert publisher.sent == [("settlement.auction_close", [7], at, str(message.task_id))]
    message.refresh_from_db()
    assert message.sent_at is not None
    assert relay.outbox_lag_seconds() == 0.0


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_message(publisher, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        outbox.enqueue("settlement.auction_close", 7)
        1 / 0  # noqa: B018 (the change fails after the enqueue)

    assert callbacks == []
    assert publisher.sent == []
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_with_the_broker_down_the_message_waits_and_the_relay_sends_it_later(
    broker_down, settings, publisher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox.enqueue("settlement.loans_transfer", 3)

    assert publisher.sent == []  # the kick found the broker down and left it
    assert OutboxMessage.objects.get(pk=message.pk).sent_at is None
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - dt.timedelta(seconds=30)
    )
    assert relay.outbox_lag_seconds() >= 30
    assert relay.relay() == 0  # still down

    settings.CELERY_BROKER_URL = broker_down  # back
    relay.broker.down_until = 0.0  # the back-off has run out
    assert relay.relay() == 1

    assert publisher.sent == [("settlement.loans_transfer", [3], None, str(message.task_id))]
    assert OutboxMessage.objects.get(pk=message.pk).sent_at is not None
    assert relay.outbox_lag_seconds() == 0.0
    assert relay.relay() == 0  # nothing twice


@pytest.mark.django_db
def test_a_failed_publish_is_counted_and_stops_the_pass_in_order(monkeypatch):
    first, second = OutboxMessageFactory(), OutboxMessageFactory()

    class Down:
        def send_task(self, *args, **kwargs):
            import kombu.exceptions

            raise kombu.exceptions.OperationalError("Connection refused")

    monkeypatch.setattr(relay, "current_app", Down())
    assert relay.relay() == 0

    failed = OutboxMessage.objects.get(pk=first.pk)
    assert failed.sent_at is None and failed.attempts == 1
    assert "Connection refused" in failed.last_error
    assert OutboxMessage.objects.get(pk=second.pk).attempts == 0  # not tried behind the first
    assert relay.broker.down_until > time.monotonic()  # kicks now skip the broker


@pytest.mark.django_db
def test_a_message_that_cannot_be_published_does_not_block_the_others(monkeypatch):
    bad, good = OutboxMessageFactory(task="bad.task"), OutboxMessageFactory()
    sent = []

    class Picky:
        def send_task(self, name, args=None, **kwargs):
            if name == "bad.task":
                raise ValueError("cannot encode")
            sent.append(name)

    monkeypatch.setattr(relay, "current_app", Picky())
    assert relay.relay() == 1

    assert sent == [good.task]
    assert OutboxMessage.objects.get(pk=bad.pk).attempts == 1
    assert OutboxMessage.objects.get(pk=good.pk).sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_racing_relays_publish_every_message_exactly_once(monkeypatch):
    slow = Publisher(delay=0.002)
    monkeypatch.setattr(relay, "current_app", slow)
    OutboxMessage.objects.bulk_create(
        OutboxMessage(task="settlement.auction_close", args=[n]) for n in range(300)
    )
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            relay.relay(batch=25)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    published = sorted(args[0] for _, args, _, _ in slow.sent)
    assert published == list(range(300))  # every one, none twice
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.django_db
def test_old_sent_messages_are_purged_and_unsent_ones_kept(settings):
    settings.OUTBOX_KEEP_SENT_HOURS = 24
    old = OutboxMessageFactory(sent_at=timezone.now() - dt.timedelta(hours=25))
    recent = OutboxMessageFactory(sent_at=timezone.now() - dt.timedelta(hours=1))
    unsent = OutboxMessageFactory(created_at=timezone.now() - dt.timedelta(days=9))

    assert outbox_purge() == 1

    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, unsent.pk}
    assert not OutboxMessage.objects.filter(pk=old.pk).exists()


def test_the_relay_is_a_beat_task_every_second(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["outbox-relay"]
    assert entry["task"] == "outbox.relay"
    assert entry["schedule"] <= 1.0

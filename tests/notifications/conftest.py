"""Fixtures of the notification tests: a real local webhook receiver, and ``drain``, which runs
the relay and every due delivery in this process (the worker tests run them in a real worker)."""

from __future__ import annotations

import pytest

from notifications.models import Delivery, DeliveryStatus
from notifications.services.delivery import delivery_attempt
from notifications.services.relay import events_fan_out
from tests.notifications.receiver import Receiver, start, stop


@pytest.fixture
def receiver():
    """``receiver(fail_first=0)``: a started receiver (stopped after the test)."""
    started: list[Receiver] = []

    def make(fail_first: int = 0) -> Receiver:
        started.append(start(Receiver(fail_first=fail_first)))
        return started[-1]

    yield make
    for r in started:
        stop(r)


def drain(*, rounds: int = 1) -> list[Delivery]:
    """Fan out every new event, then make one attempt at each pending delivery, ``rounds``
    times, ignoring ``next_attempt_at`` (the backoff is checked on the rows, not waited for)."""
    for _ in range(rounds):
        events_fan_out(batch=10_000)
        for pk, attempts in Delivery.objects.filter(status=DeliveryStatus.PENDING).values_list(
            "pk", "attempts"
        ):
            delivery_attempt(delivery_id=pk, attempt=attempts)
    return list(Delivery.objects.order_by("pk"))

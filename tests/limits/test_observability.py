"""Observability: JSON log lines with the request id, the id carried into Celery tasks (inline
and through a real worker), /metrics protected, and the counters moving with what happens."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
import redis
from celery import shared_task
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from marketplace.observability import collector, context
from marketplace.observability.logs import ContextFilter, JsonFormatter
from settlement.tasks import close_and_settle
from tests.bidding.conftest import bid_url, make_auction, register
from tests.conftest import client_for
from tests.support import assert_problem, end_auction

TOKEN = "s3cret-metrics-token"


@pytest.fixture
def json_lines():
    """What the loggers write through the production formatter and filter, one dict per line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_a_request_logs_json_with_its_request_id(db, json_lines):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="req-7f3a9c")

    assert response["X-Request-ID"] == "req-7f3a9c"
    access = [line for line in json_lines() if line["logger"] == "marketplace.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "req-7f3a9c"
    assert line["route"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"
    assert {"time", "level", "message", "duration_ms"} <= set(line)
    assert line["time"].endswith("Z")


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 200, 'quote"d', "\u00e9t\u00e9"])
def test_an_insane_or_missing_request_id_is_replaced(db, json_lines, incoming):
    headers = {} if incoming is None else {"HTTP_X_REQUEST_ID": incoming}
    response = Client().get("/healthz", **headers)

    generated = response["X-Request-ID"]
    assert generated != incoming and len(generated) == 32
    int(generated, 16)
    assert json_lines()[-1]["request_id"] == generated


@shared_task(name="tests.observability_log")
def log_from_task(message: str) -> str | None:
    logging.getLogger("tests.task").info(message)
    return context.current_request_id()


@shared_task(name="tests.observability_fail", autoretry_for=(ValueError,), max_retries=1)
def failing_task() -> None:
    raise ValueError("boom")


def test_a_task_run_inline_logs_with_the_callers_request_id(json_lines):
    with context.request_id_scope("req-inline-1"):
        result = log_from_task.apply(args=["inside the task"])

    assert result.get() == "req-inline-1"
    line = next(x for x in json_lines() if x["message"] == "inside the task")
    assert line["request_id"] == "req-inline-1"
    assert line["task_name"] == "tests.observability_log" and line["task_id"] == result.id
    assert context.current_request_id() is None  # nothing leaks past the task


def test_publishing_puts_the_request_id_in_the_message_headers():
    from marketplace.observability.task_signals import HEADER, carry_request_id

    headers: dict[str, str] = {}
    with context.request_id_scope("req-pub-9"):
        carry_request_id(headers=headers)
    assert headers == {HEADER: "req-pub-9"}
    outside: dict[str, str] = {}
    carry_request_id(headers=outside)
    assert outside == {}


# --------------------------------------------------------------------------- /metrics


def metrics_text(client: Client | None = None, **headers) -> str:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def sample(text: str, name: str, **labels) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_metrics_are_not_public(db, settings, bidder_user, compliance_user):
    settings.METRICS_TOKEN = TOKEN
    client = Client()

    assert_problem(client.get("/metrics"), 401, "not_authenticated")
    assert_problem(
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong"), 401, "not_authenticated"
    )
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    bidder = client_for(bidder_user)._credentials["HTTP_AUTHORIZATION"]
    assert_problem(client.get("/metrics", HTTP_AUTHORIZATION=bidder), 404, "not_found")
    platform = client_for(compliance_user)._credentials["HTTP_AUTHORIZATION"]
    assert client.get("/metrics", HTTP_AUTHORIZATION=platform).status_code == 200

    settings.METRICS_TOKEN = ""  # no token configured: no bearer is accepted
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_requests_are_counted_by_route_pattern(db, settings):
    settings.METRICS_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    route = "/api/v1/auctions/{pk}/"
    counted = {"route": route, "status": "401"}
    before = sample(metrics_text(**auth), "marketplace_http_requests_total", **counted)

    for pk in (101, 202, 303):
        Client().get(f"/api/v1/auctions/{pk}/")  # 401 each, three different paths

    text = metrics_text(**auth)
    after = sample(text, "marketplace_http_requests_total", **counted)
    assert after - before == 3
    assert "/api/v1/auctions/101/" not in text  # raw paths never become labels


def test_bid_counters_move(seller_user, bidder_user, compliance_user, settings):
    settings.METRICS_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    auction = make_auction(seller_user)
    register(bidder_user, auction, confirmed_by=compliance_user)
    bidder = client_for(bidder_user)
    text = metrics_text(**auth)
    accepted = sample(text, "marketplace_bids_total", outcome="accepted")
    too_low = sample(text, "marketplace_bids_total", outcome="refused", code="bid_too_low")

    assert bidder.post(bid_url(auction), {"amount": "1000000.00"}).status_code == 201
    assert bidder.post(bid_url(auction), {"amount": "1.00"}).status_code == 409

    text = metrics_text(**auth)
    assert sample(text, "marketplace_bids_total", outcome="accepted") - accepted == 1
    refused = sample(text, "marketplace_bids_total", outcome="refused", code="bid_too_low")
    assert refused - too_low == 1


def test_close_delay_is_observed(seller_user, settings):
    settings.METRICS_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    name = "marketplace_auction_close_delay_seconds_count"
    before = sample(metrics_text(**auth), name)
    auction = make_auction(seller_user, reserve_price=None)
    end_auction(auction)

    close_and_settle(auction.pk)
    close_and_settle(auction.pk)  # already closed: not observed again

    assert sample(metrics_text(**auth), name) - before == 1


def test_task_failures_and_retries_are_counted(db, settings):
    settings.METRICS_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    task = {"task": "tests.observability_fail"}
    text = metrics_text(**auth)
    failures = sample(text, "marketplace_celery_task_failures_total", **task)
    retries = sample(text, "marketplace_celery_task_retries_total", **task)

    failing_task.apply()

    text = metrics_text(**auth)
    assert sample(text, "marketplace_celery_task_failures_total", **task) - failures == 1
    assert sample(text, "marketplace_celery_task_retries_total", **task) - retries >= 1


def test_queue_depth_and_registered_gauges(db, settings):
    settings.METRICS_TOKEN = TOKEN
    queue = f"test-queue-{time.time_ns()}"
    settings.METRICS_QUEUES = [queue]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.rpush(queue, "a", "b", "c")
    collector.register_gauge("marketplace_test_lag_seconds", "A test gauge.", lambda: 4.5)
    collector.register_gauge("marketplace_test_broken", "Raises.", lambda: 1 / 0)
    try:
        text = metrics_text(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    finally:
        broker.delete(queue)
        collector._GAUGES.pop("marketplace_test_lag_seconds")
        collector._GAUGES.pop("marketplace_test_broken")

    assert sample(text, "marketplace_celery_queue_depth", queue=queue) == 3
    assert sample(text, "marketplace_broker_up") == 1
    assert sample(text, "marketplace_test_lag_seconds") == 4.5
    assert "marketplace_test_broken" not in text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_the_task_with_the_request_id_of_its_publisher(tmp_path):
    from tests.bidding import test_worker as real

    broker_url = real.private_broker_url()
    redis.Redis.from_url(broker_url).delete(real.celery_app.conf.task_default_queue)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = real.start_worker(broker_url, tmp_path, log)
    try:
        real.wait_until_ready(worker, log_path)
        with real.publishing_to(broker_url), context.request_id_scope("req-worker-42"):
            sent = real.celery_app.send_task("marketplace.common.tasks.idempotency_purge_expired")
        deadline = time.monotonic() + 30
        lines: list[dict] = []
        while time.monotonic() < deadline and not lines:
            time.sleep(0.2)
            lines = [
                line
                for line in _json_lines(log_path)
                if line.get("task_id") == sent.id and "succeeded" in line.get("message", "")
            ]
    finally:
        real.stop_worker(worker)

    assert lines, f"no log line of the task; worker log:\n{real.tail(log_path)}"
    assert lines[0]["request_id"] == "req-worker-42"
    assert lines[0]["task_name"] == "marketplace.common.tasks.idempotency_purge_expired"
    assert lines[0]["logger"] == "celery.app.trace"


def _json_lines(path) -> list[dict]:
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
    return out


def test_limit_refusals_and_lockouts_are_counted(buyer_org, settings):
    from tests.factories import UserFactory

    settings.METRICS_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    UserFactory(organization=buyer_org, role="bidder", username="counted")
    text = metrics_text(**auth)
    locked = sample(text, "marketplace_rate_limited_total", limit="login_locked")
    lockouts = sample(text, "marketplace_login_lockouts_total")

    for _ in range(7):  # 5 failures lock the username, 2 refusals follow
        Client().post("/api/v1/auth/token/", {"username": "counted", "password": "x"})

    text = metrics_text(**auth)
    assert sample(text, "marketplace_rate_limited_total", limit="login_locked") - locked == 2
    assert sample(text, "marketplace_login_lockouts_total") - lockouts == 1

"""One attempt at one delivery (the ``notifications.deliver`` task), in three steps so that no
network I/O happens under a row lock (DESIGN.md):

1. claim (a short transaction): the delivery is still pending and still at the attempt the
   relay leased it at (a duplicate task finds it moved on and does nothing); count the attempt
   and move ``next_attempt_at`` a lease ahead, so that if this worker dies the relay sends it
   again after the lease;
2. send, with no transaction open: POST the signed event to the endpoint (its URL checked again
   against SSRF first: DNS may have changed since it was saved), or e-mail it;
3. record (a short transaction): delivered; or retried at ``next_attempt_at`` with exponential
   backoff and jitter; or ``failed`` after ``WEBHOOK_MAX_ATTEMPTS``. An endpoint whose
   attempts fail ``WEBHOOK_DISABLE_AFTER_FAILURES`` times in a row is disabled and its
   organisation told (``webhook.disabled``).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.audit.services import record
from notifications import http, signing
from notifications.codes import AuditAction
from notifications.emails import email_of
from notifications.models import Delivery, DeliveryStatus, Event, WebhookEndpoint
from notifications.services.relay import email_choices, lease
from notifications.ssrf import InvalidUrl, check_url


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    latency_ms: int | None = None
    error: str = ""


def event_body(event: Event) -> bytes:
    """The JSON body of a delivery (API.md: ``{id, type, created_at, data}``)."""
    payload = {
        "id": event.public_id,
        "type": event.type,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: ``base * 4**(attempts-1)``, capped,
    times a random factor in [0.8, 1.2] (jitter, so failed receivers are not hit in step)."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 4 ** max(0, attempts - 1)
    seconds = min(base, settings.WEBHOOK_RETRY_MAX_SECONDS)
    return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311  (jitter)


def delivery_attempt(*, delivery_id: int, attempt: int) -> Outcome | None:
    """Make attempt ``attempt + 1`` of the delivery; None when it is not due at that attempt
    (delivered, failed, redelivered, or a duplicate task)."""
    claimed = _claim(delivery_id, attempt)
    if claimed is None:
        return None
    outcome = _send(claimed)
    _record(delivery_id, attempt + 1, outcome)
    return outcome


def _claim(delivery_id: int, attempt: int) -> Delivery | None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("event", "endpoint", "user")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, attempts=attempt)
            .first()
        )
        if delivery is None:
            return None
        endpoint = delivery.endpoint
        if endpoint is not None and not endpoint.active:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            delivery.last_error = "The endpoint is not active."
            delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
            return None
        delivery.attempts = attempt + 1
        delivery.next_attempt_at = timezone.now() + lease()
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return delivery


def _send(delivery: Delivery) -> Outcome:
    if delivery.endpoint is not None:
        return _post(delivery.event, delivery.endpoint)
    assert delivery.user is not None
    address, _ = email_choices(delivery.user)
    if not address:  # removed since the relay chose this user: nothing to send to
        return Outcome(False, None, None, "The user has no e-mail address.")
    started = time.monotonic()
    subject, text = email_of(delivery.event)
    try:
        send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, [address])
    except Exception as exc:  # any backend failure (SMTP, DNS, refused) is retried
        return Outcome(False, None, _ms(started), f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(True, None, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The current secret, and the previous one during a rotation's grace period."""
    secrets_ = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        secrets_.append(endpoint.previous_secret)
    return secrets_


def _post(event: Event, endpoint: WebhookEndpoint) -> Outcome:
    try:
        target = check_url(endpoint.url)
    except InvalidUrl as exc:
        return Outcome(False, None, None, exc.detail)
    body = event_body(event)
    headers = signing.headers(
        signing_secrets(endpoint, timezone.now()),
        msg_id=event.public_id,
        timestamp=int(time.time()),
        body=body,
    )
    answer = http.post(target, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    return Outcome(not answer.error, answer.status, answer.latency_ms, answer.error)


def _record(delivery_id: int, attempts: int, outcome: Outcome) -> None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, attempts=attempts)
            .first()
        )
        if delivery is None:
            return  # redelivered meanwhile: that series records its own attempts
        now = timezone.now()
        delivery.response_status = outcome.status
        delivery.latency_ms = outcome.latency_ms
        delivery.last_error = outcome.error
        if outcome.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + backoff(attempts)
        delivery.save()
        if delivery.endpoint_id is not None:
            _endpoint_outcome(delivery.endpoint_id, ok=outcome.ok)


def _endpoint_outcome(endpoint_id: int, *, ok: bool) -> None:
    """Count the endpoint's failures in a row; disable it at the limit and tell its
    organisation (the ``webhook.disabled`` audit event becomes its event)."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if ok:
        endpoints.exclude(consecutive_failures=0).update(consecutive_failures=0)
        return
    endpoint = endpoints.select_for_update().first()
    if endpoint is None:
        return
    endpoints.update(consecutive_failures=F("consecutive_failures") + 1)
    failures = endpoint.consecutive_failures + 1
    if endpoint.active and failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES:
        endpoints.update(active=False, disabled_at=timezone.now())
        record(
            action=AuditAction.WEBHOOK_DISABLED,
            object_type="webhook",
            object_id=endpoint.pk,
            organization=endpoint.organization,
            data={"consecutive_failures": failures, "url": endpoint.url},
        )

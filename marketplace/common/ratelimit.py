"""Abuse limits held in Redis, atomic under any number of web processes and threads.

Each limit is a sliding-window log: a sorted set per bucket (a user, an organisation, a client
address) whose members are the admitted requests, scored by Redis's own clock (``TIME``), so
web hosts with skewed clocks agree. One Lua script prunes the entries older than the window,
counts what is left and admits the request only if the count is under the limit, adding it in
the same step: two requests can never both take the last slot, whatever the concurrency. An
admitted request can be given back (``refund``): the login limits admit every attempt and
refund the successful ones, so only failures (and attempts still in flight) count.

Limits are named in ``LIMITS``; each reads its rate from a setting (README "Configuration")
and says what happens when Redis does not answer (docs/OPERATIONS.md "Abuse limits"): a limit
that fails open admits the request and logs it, one that fails closed refuses it with 503.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest
from redis.commands.core import Script
from rest_framework import exceptions as drf
from rest_framework.request import Request

from marketplace.observability import metrics

logger = logging.getLogger(__name__)

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``window`` seconds."""

    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"5/s"``, ``"30/10min"``, ``"20/hour"``...; ``"off"`` (or ``"0"``) disables."""
        if text.strip().lower() in {"off", "none", "0", ""}:
            return None
        match = _RATE.match(text.lower())
        if match is None or match.group(3) not in _UNITS:
            raise ValueError(f"not a rate: {text!r} (expected e.g. 5/s, 30/10min, 20/hour)")
        limit, count, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
        if limit < 1 or count < 1:
            raise ValueError(f"not a rate: {text!r} (limit and period must be positive)")
        return cls(limit=limit, window=count * _UNITS[unit])


@dataclass(frozen=True)
class Limit:
    """A named limit: the setting holding its rate, and what an outage of Redis does to it."""

    name: str
    setting: str
    fail_open: bool
    detail: str

    def rate(self) -> Rate | None:
        return Rate.parse(str(getattr(settings, self.setting)))


class RateLimited(drf.Throttled):
    """429 ``throttled`` with ``Retry-After`` (the error handler writes both)."""

    def __init__(self, detail: str, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(wait=self.retry_after, detail=detail)


class LimiterUnavailable(drf.APIException):
    """503 ``service_unavailable``: a fail-closed limit could not reach Redis."""

    status_code = 503
    default_code = "service_unavailable"
    default_detail = "Service unavailable: the rate limiter cannot be reached; retry shortly."

    def __init__(self) -> None:
        super().__init__()
        self.wait = 5  # the error handler turns it into Retry-After


# KEYS: the buckets' sorted sets, then keys whose existence refuses (a lockout). ARGV: the
# member to add, then per bucket its limit and window (ms). Answers {1, 0} when admitted, else
# {0, ms until a slot frees (or the lock expires), 1-based index of the refusing key}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local buckets = (#ARGV - 1) / 2
for i = buckets + 1, #KEYS do
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl > 0 then return {0, ttl, i} end
end
for i = 1, buckets do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return {0, math.max(1, tonumber(oldest[2]) + window - now), i}
  end
end
for i = 1, buckets do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
end
return {1, 0, 0}
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    rate: Rate


@dataclass(frozen=True)
class Admission:
    """An admitted request: what to give back if it should not count."""

    member: str
    keys: tuple[str, ...]


@cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: a hung Redis must not hold a bid for long before the limit fails open
    # (a stopped one refuses the connection at once); a slow but working one still answers.
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)


def client() -> redis.Redis:
    return _client(settings.REDIS_URL)


@cache
def _script(url: str, source: str) -> Script:
    return _client(url).register_script(source)


def script(source: str) -> Script:
    """A Lua script on the limits' Redis, sent once and then called by its digest."""
    return _script(settings.REDIS_URL, source)


def key(*parts: str) -> str:
    """A Redis key under the cache's prefix (tests give each test a prefix of its own)."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return ":".join([str(prefix), "limits", *parts])


def digest(value: str) -> str:
    """A bounded, opaque key part for caller-supplied text (usernames, forwarded addresses)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class Refusal:
    """A refused request: seconds until it may succeed, and what refused it (the index in
    ``[*buckets, *locks]``)."""

    wait: float
    index: int


def admit(buckets: Sequence[Bucket], *, locks: Sequence[str] = ()) -> Admission | Refusal:
    """Admit one request into every bucket at once, or into none; a lock key that exists
    refuses it until it expires. Raises ``redis.RedisError`` when Redis does not answer."""
    member = uuid.uuid4().hex
    args: list[Any] = [member]
    for bucket in buckets:
        args += [bucket.rate.limit, bucket.rate.window * 1000]
    keys = [b.key for b in buckets] + list(locks)
    admitted, wait_ms, index = script(_RESERVE)(keys=keys, args=args)
    if admitted:
        return Admission(member=member, keys=tuple(b.key for b in buckets))
    return Refusal(wait=int(wait_ms) / 1000, index=int(index) - 1)


def refund(admission: Admission) -> None:
    """Give an admitted request's slot back (best effort: a lost refund only counts once more)."""
    try:
        pipe = client().pipeline(transaction=True)
        for bucket_key in admission.keys:
            pipe.zrem(bucket_key, admission.member)
        pipe.execute()
    except redis.RedisError:
        logger.warning("rate limit refund lost (Redis unavailable)", exc_info=True)


class _OutageLog:
    """Logs a fail-open admission at most once per 10 s per limit and process, with a count,
    so an outage under load writes a line every few seconds, not one per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._missed: dict[str, int] = {}

    def note(self, limit: Limit, exc: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            self._missed[limit.name] = self._missed.get(limit.name, 0) + 1
            if now - self._last.get(limit.name, -1e9) < 10:
                return
            self._last[limit.name] = now
            count = self._missed.pop(limit.name)
        logger.warning(
            "rate limit %s not applied to %d request(s) (fail open): Redis unavailable: %s",
            limit.name,
            count,
            exc,
            extra={"limit": limit.name, "fail_open": True},
        )


_outage_log = _OutageLog()


def check(limit: Limit, *subject: str) -> None:
    """Count one request of ``subject`` against ``limit``; raise ``RateLimited`` when over.

    When Redis does not answer: a fail-open limit lets the request through (logged), a
    fail-closed one raises ``LimiterUnavailable`` (503)."""
    rate = limit.rate()
    if rate is None:
        return
    try:
        outcome = admit([Bucket(key(limit.name, *subject), rate)])
    except redis.RedisError as exc:
        mode = "open" if limit.fail_open else "closed"
        metrics.LIMITER_UNAVAILABLE.labels(limit=limit.name, mode=mode).inc()
        if limit.fail_open:
            _outage_log.note(limit, exc)
            return
        raise LimiterUnavailable() from exc
    if isinstance(outcome, Refusal):
        metrics.RATE_LIMITED.labels(limit=limit.name).inc()
        raise RateLimited(limit.detail, outcome.wait)


def client_address(request: HttpRequest | Request) -> str:
    """The client's address as DRF's throttles read it: ``REMOTE_ADDR``, or with
    ``NUM_PROXIES`` > 0 the ``X-Forwarded-For`` entry that many proxies from the right."""
    meta = request.META
    remote = str(meta.get("REMOTE_ADDR") or "")
    proxies = int(str(settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0))
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = str(forwarded).split(",")
    return addresses[-min(proxies, len(addresses))].strip()[:64] or remote


def address_bucket(address: str) -> str:
    """The part of a client address that a limit counts: an IPv4 address as it is, an IPv6
    address by its /64 network (one subscriber's allocation, whose 2^64 addresses an attacker
    could otherwise rotate through); anything unparsable as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


BIDS = Limit(
    name="bids",
    setting="BID_RATE_LIMIT",
    fail_open=True,
    detail="Too many bids from this user; retry after the time in Retry-After.",
)
UPLOADS = Limit(
    name="uploads",
    setting="UPLOAD_RATE_LIMIT",
    fail_open=True,
    detail="Too many loan tape uploads from this organisation; retry after Retry-After.",
)
LIMITS = (BIDS, UPLOADS)

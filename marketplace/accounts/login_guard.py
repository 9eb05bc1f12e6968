"""Login attempts limited per client address and per username, with a bounded lockout.

Every login (the API's ``POST /auth/token/`` and the Django admin's form) goes through
``login_guarded``. Before the password is checked, the attempt takes a slot in two buckets at
once (``marketplace.common.ratelimit``, atomic in Redis):

- its **client address**: ``LOGIN_FAILURES_PER_ADDRESS`` (default 30 per 10 minutes);
- its **username scope**: ``LOGIN_FAILURES_PER_USERNAME`` (default 5 per 15 minutes).

A successful login gives its slots back, so only failures (and attempts still in flight)
count: an office behind one address never runs out by logging in, and no number of concurrent
attempts gets more guesses than the limit. A refused attempt is answered 429 before the password
is checked, so it reveals nothing about the password or whether the user exists.

When a username scope reaches its limit it is **locked** for ``LOGIN_LOCKOUT_SECONDS``
(default 60), doubling with each further lockout within ``LOGIN_LOCKOUT_MEMORY_SECONDS``
(default 24 h) and capped at ``LOGIN_LOCKOUT_MAX_SECONDS`` (default 15 minutes). The username
scope is what keeps an attacker from locking a victim out for good:

- an address from which this username logged in successfully within
  ``LOGIN_TRUSTED_ADDRESS_DAYS`` (default 30) has a scope of its own (username + address):
  failures from anywhere else neither count against it nor lock it, so the victim's usual
  office logs in while an attacker is locking the username elsewhere;
- every other address shares the username's scope, whose lock expires within the cap once
  the attack stops, and whose escalation is forgotten a day after the last lockout.

The per-address bucket still bounds every address, trusted or not.

Redis down: logins fail closed (503 ``service_unavailable``, ``Retry-After: 5``). Issued tokens
keep working (they are checked in PostgreSQL), so bidders already logged in are unaffected;
failing open would let guessing run unbounded exactly while ``/readyz`` tells the world that
the broker is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis
from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

from marketplace.common import ratelimit
from marketplace.common.ratelimit import Admission, Bucket, LimiterUnavailable, Rate, RateLimited
from marketplace.observability import metrics

logger = logging.getLogger(__name__)

U = TypeVar("U")

# KEYS: the scope's failures, its lock, its lockout level. ARGV: failure limit, window ms,
# base lockout ms, cap ms, level memory ms. Locks the scope when its failures reached the
# limit (and it is not locked already); answers the lock's length in ms, or 0.
_AFTER_FAILURE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local level = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]))
local ttl = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ (level - 1), tonumber(ARGV[4])))
redis.call('SET', KEYS[2], level, 'PX', ttl)
redis.call('DEL', KEYS[1])
return ttl
"""

# What refused an attempt (its metric label) and what the client is told.
_REFUSALS = (
    ("login_address", "Too many failed logins from this address; retry after Retry-After."),
    ("login_username", "Too many failed logins for this username; retry after Retry-After."),
    (
        "login_locked",
        "This username is locked after repeated failures; retry after Retry-After.",
    ),
)


@dataclass(frozen=True)
class _Scope:
    """The keys of one username scope: the username alone, or username + trusted address."""

    failures: str
    lock: str
    level: str


def _rate(setting: str) -> Rate | None:
    return Rate.parse(str(getattr(settings, setting)))


def _trusted_key(username: str, address: str) -> str:
    return ratelimit.key("login", "trusted", ratelimit.digest(f"{username}\0{address}"))


def _scope(username: str, address: str, *, trusted: bool) -> _Scope:
    parts = ["login", "user", ratelimit.digest(username)]
    if trusted:
        parts.append(ratelimit.digest(address))
    return _Scope(*(ratelimit.key(*parts, kind) for kind in ("failures", "lock", "level")))


def _admit(username: str, address: str) -> tuple[Admission | None, _Scope]:
    """Take the attempt's slots, or raise RateLimited; Redis errors propagate."""
    trusted = bool(ratelimit.client().exists(_trusted_key(username, address)))
    scope = _scope(username, address, trusted=trusted)
    candidates = [
        (
            _rate("LOGIN_FAILURES_PER_ADDRESS"),
            ratelimit.key("login", "address", ratelimit.digest(address)),
            _REFUSALS[0],
        ),
        (_rate("LOGIN_FAILURES_PER_USERNAME"), scope.failures, _REFUSALS[1]),
    ]
    buckets = [Bucket(bucket_key, rate) for rate, bucket_key, _ in candidates if rate is not None]
    refusals = [refusal for rate, _, refusal in candidates if rate is not None] + [_REFUSALS[2]]
    if not buckets:
        return None, scope
    outcome = ratelimit.admit(buckets, locks=[scope.lock])
    if isinstance(outcome, ratelimit.Refusal):
        label, detail = refusals[outcome.index]
        metrics.RATE_LIMITED.labels(limit=label).inc()
        raise RateLimited(detail, outcome.wait)
    return outcome, scope


def _after_success(admission: Admission | None, username: str, address: str) -> None:
    if admission is not None:
        ratelimit.refund(admission)
    days = int(settings.LOGIN_TRUSTED_ADDRESS_DAYS)
    if days > 0:
        try:
            ratelimit.client().set(_trusted_key(username, address), 1, ex=days * 86400)
        except redis.RedisError:
            logger.warning("login: trusted address not recorded (Redis unavailable)")


def _after_failure(scope: _Scope) -> None:
    rate = _rate("LOGIN_FAILURES_PER_USERNAME")
    if rate is None:
        return
    args = [
        rate.limit,
        rate.window * 1000,
        int(settings.LOGIN_LOCKOUT_SECONDS) * 1000,
        int(settings.LOGIN_LOCKOUT_MAX_SECONDS) * 1000,
        int(settings.LOGIN_LOCKOUT_MEMORY_SECONDS) * 1000,
    ]
    try:
        locked_ms = ratelimit.script(_AFTER_FAILURE)(
            keys=[scope.failures, scope.lock, scope.level], args=args
        )
    except redis.RedisError:
        logger.warning("login: lockout not recorded (Redis unavailable)")
        return
    if locked_ms:
        metrics.LOGIN_LOCKOUTS.inc()
        logger.warning(
            "login: username locked for %.0f s after repeated failures",
            int(locked_ms) / 1000,
            extra={"lockout_seconds": int(locked_ms) / 1000},
        )


def login_guarded(
    request: HttpRequest | Request, username: str, authenticate: Callable[[], U | None]
) -> U | None:
    """Run ``authenticate`` (the password check) if the limits admit this attempt.

    Answers its user, or None for wrong credentials (counted as a failure). Raises
    ``RateLimited`` (429) when the address or username is over its limit or locked, and
    ``LimiterUnavailable`` (503) when Redis does not answer (fail closed, see above)."""
    address = ratelimit.address_bucket(ratelimit.client_address(request))
    try:
        admission, scope = _admit(username, address)
    except redis.RedisError as exc:
        metrics.LIMITER_UNAVAILABLE.labels(limit="login", mode="closed").inc()
        logger.error("login refused: the rate limiter's Redis is unavailable: %s", exc)
        raise LimiterUnavailable() from exc
    user = authenticate()
    if user is None:
        _after_failure(scope)
    else:
        _after_success(admission, username, address)
    return user

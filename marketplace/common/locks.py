"""Transaction-scoped PostgreSQL advisory locks, keyed by a readable string.

The one place the lock SQL is written. Both functions must run inside the caller's
``transaction.atomic()``: the lock is released when that transaction ends, so it serialises
exactly the work that commits or rolls back together. Keys are namespaced by their caller
(``"audit:<stream>"``, ``"idempotency:<org>:<key>"``, ...); ``hashtextextended`` turns a key into
the 64-bit lock id, and two keys that collide only make two unrelated writers wait on each other.
"""

from __future__ import annotations

from django.db import connection

from marketplace.common.atomic import require_atomic

LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
TRY_LOCK_SQL = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"


def advisory_xact_lock(key: str) -> None:
    """Wait for the lock on ``key``; it is held until the current transaction ends."""
    require_atomic("an advisory lock")
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, [key])


def try_advisory_xact_lock(key: str) -> bool:
    """Take the lock on ``key`` if free and return True; return False at once if it is held."""
    require_atomic("an advisory lock")
    with connection.cursor() as cursor:
        cursor.execute(TRY_LOCK_SQL, [key])
        (locked,) = cursor.fetchone()
    return bool(locked)

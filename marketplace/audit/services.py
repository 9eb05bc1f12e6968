"""Writing audit events: ``record``, and ``event_append`` for a hot path that embeds the append
in statements of its own. No other app writes (or knows) the audit table's SQL."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from marketplace.audit import listeners
from marketplace.audit.listeners import SqlWrite
from marketplace.audit.models import AuditEvent
from marketplace.common.atomic import require_atomic
from marketplace.common.locks import advisory_xact_lock

GENESIS_HASH = "0" * 64
# Every column of an event but its id, as the hot path's plain-SQL insert writes them.
_INSERT_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8, Decimals as strings."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_default,
        allow_nan=False,
    )


def normalize_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """The exact value stored in (and read back from) the JSON column, so hashing is stable."""
    if not data:
        return {}
    normalized: dict[str, Any] = _reject_floats(json.loads(canonical_json(data)))
    return normalized


def _reject_floats(value: Any) -> Any:
    # Floats do not survive a JSON round trip bit for bit; money is never a float anyway.
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    if isinstance(value, dict):
        return {k: _reject_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reject_floats(v) for v in value]
    return value


def event_hash(
    *,
    stream: str,
    sequence: int,
    occurred_at: datetime,
    actor_user_id: int | None,
    actor_username: str,
    actor_organization_id: int | None,
    actor_organization_name: str,
    action: str,
    object_type: str,
    object_id: str,
    data: dict[str, Any],
    prev_hash: str,
) -> str:
    payload = canonical_json(
        {
            "stream": stream,
            "sequence": sequence,
            "occurred_at": occurred_at.astimezone(UTC).isoformat(),
            "actor": [
                actor_user_id,
                actor_username,
                actor_organization_id,
                actor_organization_name,
            ],
            "action": action,
            "object": [object_type, object_id],
            "data": data,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def hash_of(event: AuditEvent) -> str:
    return event_hash(
        stream=event.stream,
        sequence=event.sequence,
        occurred_at=event.occurred_at,
        actor_user_id=event.actor_user_id,
        actor_username=event.actor_username,
        actor_organization_id=event.actor_organization_id,
        actor_organization_name=event.actor_organization_name,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        data=event.data,
        prev_hash=event.prev_hash,
    )


def stream_for(object_type: str, object_id: Any) -> str:
    return f"{object_type}:{object_id}"


# The head of a stream is its last event's (sequence, hash); None when the stream is empty.
StreamHead = tuple[int, str]

# The last event of a stream as one row (sequence, hash), or no row for an empty stream.
_STREAM_HEAD_SQL = (
    "SELECT sequence, hash FROM audit_auditevent WHERE stream = %s ORDER BY sequence DESC LIMIT 1"
)
_EVENT_INSERT_SQL = (
    f"INSERT INTO {AuditEvent._meta.db_table} ({', '.join(str(f.column) for f in _INSERT_FIELDS)})"  # noqa: S608
    f" VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))})"
)


def stream_head(stream: str) -> StreamHead | None:
    """The stream's head, read in a statement of its own. The caller holds what serialises the
    stream's writers (see ``record`` and ``event_append``)."""
    with connection.cursor() as cursor:
        cursor.execute(_STREAM_HEAD_SQL, [stream])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


# --------------------------------------------------------------------------- the fast path
# A hot path (the bid path) appends to a stream without ``record``'s advisory lock and without
# round trips of its own: it reads the head inside a statement of its own, right after taking a
# lock that every writer of the stream holds, and writes the event inside another. Audit owns the
# SQL; the caller only embeds it.


@dataclass(frozen=True)
class SqlPart:
    """A piece of SQL with its parameters, for a caller to embed in a statement of its own."""

    sql: str
    params: list[Any]


def stream_head_query(stream: str) -> SqlPart:
    """A query of the stream's head: one row of two columns (the last event's sequence and
    hash), or no row when the stream is empty. Embed it (e.g. ``LEFT JOIN (<sql>) head ON true``)
    in a statement that starts after the caller's lock is granted, so that it sees what the
    previous holder committed, and pass the two columns to ``stream_head_from``."""
    return SqlPart(_STREAM_HEAD_SQL, [stream])


def stream_head_from(sequence: int | None, hash_: str | None) -> StreamHead | None:
    """The head from the two columns of ``stream_head_query`` (NULLs: an empty stream)."""
    return None if sequence is None or hash_ is None else (sequence, hash_)


@dataclass(frozen=True)
class PreparedAppend:
    """One event, hashed, and the statement that appends it.

    ``sql`` is a single INSERT: run it with ``params`` on its own, or as the final statement of
    a ``WITH`` statement of the caller's (its parameters then come after the caller's).
    ``writes`` are the listeners' writes (``marketplace.audit.listeners``) that must run in the
    same transaction: as parts of that ``WITH`` statement (``with_parts``), or each on its own
    before the insert."""

    event: AuditEvent
    writes: tuple[SqlWrite, ...] = ()

    def with_parts(self) -> tuple[list[str], list[Any]]:
        """The writes as ``WITH`` parts (``listener_<n> AS (...)``) and their parameters."""
        parts = [f"listener_{n} AS ({w.sql})" for n, w in enumerate(self.writes)]
        return parts, [p for w in self.writes for p in w.params]

    @property
    def sql(self) -> str:
        return _EVENT_INSERT_SQL

    @property
    def params(self) -> list[Any]:
        # Each value prepared for the database by its model field, as ``save`` would.
        return [
            field.get_db_prep_save(getattr(self.event, field.attname), connection)
            for field in _INSERT_FIELDS
        ]


def event_append(
    *,
    stream: str,
    head: StreamHead | None,
    action: str,
    object_type: str,
    object_id: Any,
    actor: Any = None,
    organization: Any = None,
    data: dict[str, Any] | None = None,
) -> PreparedAppend:
    """Prepare the event that follows ``head`` in ``stream`` (hashed, not saved), with the plain
    SQL that appends it: the ORM's ``save`` costs more than the rest of an append. ``head`` comes
    from ``stream_head_query`` or ``stream_head``. ``record`` writes the same event with ``save``.

    The caller runs the statement inside its transaction, and holds what serialises every
    writer of the stream from the read of ``head`` until its commit: a lock that every writer
    of the stream takes (the bid path: the auction's row lock, which ``record``'s callers on an
    auction's stream hold as well). Otherwise two writers read the same head, and the second
    insert fails on the stream's unique sequence.

    Every listener registered with ``marketplace.audit.listeners.listen`` runs on the event
    here, inside the caller's transaction."""
    require_atomic("audit.event_append")
    if organization is None and actor is not None:
        organization = getattr(actor, "organization", None)
    sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    event = AuditEvent(
        stream=stream,
        sequence=sequence,
        occurred_at=timezone.now(),
        actor_user_id=getattr(actor, "pk", None),
        actor_username=getattr(actor, "username", "") or "",
        actor_organization_id=getattr(organization, "pk", None),
        actor_organization_name=getattr(organization, "name", "") or "",
        action=str(action),
        object_type=object_type,
        object_id=str(object_id),
        data=normalize_data(data),
        prev_hash=prev_hash,
    )
    event.hash = hash_of(event)
    # In the caller's transaction, so what listeners write commits or rolls back with the event.
    return PreparedAppend(event, listeners.notify(event))


def record(
    *,
    action: str,
    object_type: str,
    object_id: Any,
    actor: Any = None,
    organization: Any = None,
    data: dict[str, Any] | None = None,
    stream: str | None = None,
) -> AuditEvent:
    """Append one event to ``stream`` (default ``<object_type>:<object_id>``).

    Must run inside the caller's transaction, so the event commits or rolls back with the state
    change it describes. Serialises writers of the same stream with a transaction-scoped
    advisory lock keyed by the stream name; writers of different streams never wait on each
    other (no global lock, no global counter).

    ``actor`` is the acting user (or None for the system: workers, commands); ``organization``
    defaults to the actor's organisation. (The bid path appends to an auction's stream with
    ``event_append`` under the auction's row lock instead, which every writer of that stream
    holds.)
    """
    require_atomic("audit.record")
    stream = stream or stream_for(object_type, object_id)
    advisory_xact_lock(f"audit:{stream}")
    append = event_append(
        stream=stream,
        head=stream_head(stream),
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor=actor,
        organization=organization,
        data=data,
    )
    if append.writes:
        with connection.cursor() as cursor:
            for write in append.writes:
                cursor.execute(write.sql, write.params)
    event = append.event
    event.save(force_insert=True)
    return event


def record_atomic(**kwargs: Any) -> AuditEvent:
    """``record`` in a transaction of its own, for events with no other state change."""
    with transaction.atomic():
        return record(**kwargs)

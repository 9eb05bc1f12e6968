"""Reading and verifying the audit log."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from marketplace.audit.models import AuditEvent
from marketplace.audit.services import GENESIS_HASH, hash_of


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.all().order_by("id")


def stream_events(
    *, stream: str, actions: Collection[str], after: int = 0, up_to: int | None = None
) -> QuerySet[AuditEvent]:
    """The events of one stream with these actions, in sequence order, after sequence ``after``
    (and up to ``up_to``): a range of the stream's unique (stream, sequence) index. A reader
    that remembers the last sequence it saw reads exactly what was committed since, with no
    gap and no repeat (sequences are gapless and commit with their change)."""
    events = AuditEvent.objects.filter(stream=stream, sequence__gt=after, action__in=actions)
    if up_to is not None:
        events = events.filter(sequence__lte=up_to)
    return events.order_by("sequence")


@dataclass
class VerifyResult:
    valid: bool = True
    events_checked: int = 0
    streams_checked: int = 0
    first_invalid: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "valid": self.valid,
            "events_checked": self.events_checked,
            "streams_checked": self.streams_checked,
        }
        if self.first_invalid:
            out["first_invalid"] = self.first_invalid
        return out


def audit_verify(*, stream: str | None = None, chunk_size: int = 5000) -> VerifyResult:
    """Walk every stream in (stream, sequence) order and check the chain.

    For each stream: sequences run 1, 2, 3 ... without a gap (a deletion or a renumbering shows
    as a gap or a repeat), each ``prev_hash`` equals the previous event's ``hash`` (a removed or
    moved event breaks the link), and each ``hash`` equals the SHA-256 recomputed from the row
    (an edited field shows here). Reports the first invalid event; reads in chunks with a
    server-side cursor so memory stays flat however long the log is.
    """
    result = VerifyResult()
    events = AuditEvent.objects.order_by("stream", "sequence")
    if stream is not None:
        events = events.filter(stream=stream)
    current_stream: str | None = None
    expected_sequence = 1
    prev_hash = GENESIS_HASH

    for event in events.iterator(chunk_size=chunk_size):
        if event.stream != current_stream:
            current_stream = event.stream
            expected_sequence = 1
            prev_hash = GENESIS_HASH
            result.streams_checked += 1
        result.events_checked += 1
        reason = None
        at_sequence = event.sequence
        if event.sequence > expected_sequence:
            at_sequence = expected_sequence
            reason = f"event {expected_sequence} is missing (next found: {event.sequence})"
        elif event.sequence < expected_sequence:
            reason = f"sequence out of order: expected {expected_sequence}, found {event.sequence}"
        elif event.prev_hash != prev_hash:
            reason = "prev_hash does not match the previous event's hash"
        elif hash_of(event) != event.hash:
            reason = "hash does not match the event's contents"
        if reason:
            result.valid = False
            result.first_invalid = {
                "stream": event.stream,
                "sequence": at_sequence,
                "event_id": event.id,
                "reason": reason,
            }
            return result
        expected_sequence = event.sequence + 1
        prev_hash = event.hash
    return result

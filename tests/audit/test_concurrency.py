"""Audit writers serialise per stream, never globally (DESIGN.md, Concurrency).

Real threads, each with its own database connection, against the real PostgreSQL.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from django.db import connection, transaction

from marketplace.audit.models import AuditEvent
from marketplace.audit.selectors import audit_verify
from marketplace.audit.services import GENESIS_HASH, record, record_atomic

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


class Holder(threading.Thread):
    """Opens a transaction, records one event to ``object_type:object_id`` and keeps the
    transaction open until ``release`` is set."""

    def __init__(self, object_type: str, object_id: int) -> None:
        super().__init__(daemon=True)
        self.object_type = object_type
        self.object_id = object_id
        self.recorded = threading.Event()
        self.release = threading.Event()
        self.event: AuditEvent | None = None
        self.released_at: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.event = record(
                    action=f"{self.object_type}.held",
                    object_type=self.object_type,
                    object_id=self.object_id,
                )
                self.recorded.set()
                self.release.wait(TIMEOUT)
                self.released_at = time.monotonic()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.recorded.set()
        finally:
            connection.close()


class Writer(threading.Thread):
    """Records one event in a transaction of its own; notes its backend pid first."""

    def __init__(self, object_type: str, object_id: int) -> None:
        super().__init__(daemon=True)
        self.object_type = object_type
        self.object_id = object_id
        self.started = threading.Event()
        self.done = threading.Event()
        self.pid: int | None = None
        self.event: AuditEvent | None = None
        self.finished_at: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.started.set()
            self.event = record_atomic(
                action=f"{self.object_type}.written",
                object_type=self.object_type,
                object_id=self.object_id,
            )
            self.finished_at = time.monotonic()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.started.set()
            self.done.set()
            connection.close()


def wait_until_blocked_on_advisory_lock(pid: int) -> bool:
    """True once the backend ``pid`` waits on an advisory lock (pg_stat_activity)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", [pid]
            )
            row = cursor.fetchone()
        if row == ("Lock", "advisory"):
            return True
        time.sleep(0.02)
    return False


def test_writers_of_different_streams_do_not_wait_for_each_other():
    holder = Holder("x", 1)
    holder.start()
    try:
        assert holder.recorded.wait(TIMEOUT)
        assert holder.error is None, holder.error

        other = Writer("y", 1)
        other.start()
        finished = other.done.wait(5)

        # B committed while A's transaction is still open.
        assert finished, "a writer on another stream waited for an open transaction"
        assert other.error is None, other.error
        assert holder.is_alive() and not holder.release.is_set()
        assert other.event.stream == "y:1" and other.event.sequence == 1
        # Seen from a third connection: B's event is committed, A's is not yet.
        assert AuditEvent.objects.filter(stream="y:1").count() == 1
        assert AuditEvent.objects.filter(stream="x:1").count() == 0
    finally:
        holder.release.set()
        holder.join(TIMEOUT)
    other.join(TIMEOUT)

    assert holder.error is None, holder.error
    assert other.finished_at < holder.released_at
    assert AuditEvent.objects.filter(stream="x:1").count() == 1
    assert audit_verify().as_dict() == {"valid": True, "events_checked": 2, "streams_checked": 2}


def test_a_second_writer_of_the_same_stream_waits_for_the_first_to_commit():
    holder = Holder("x", 1)
    holder.start()
    waiter = None
    try:
        assert holder.recorded.wait(TIMEOUT)
        assert holder.error is None, holder.error

        waiter = Writer("x", 1)
        waiter.start()
        assert waiter.started.wait(TIMEOUT)
        assert waiter.pid is not None, waiter.error

        # The waiter is parked on the stream's advisory lock, not finished.
        assert wait_until_blocked_on_advisory_lock(waiter.pid)
        assert not waiter.done.wait(0.3)
    finally:
        holder.release.set()
        holder.join(TIMEOUT)
    assert waiter.done.wait(TIMEOUT)
    waiter.join(TIMEOUT)

    assert holder.error is None, holder.error
    assert waiter.error is None, waiter.error
    assert waiter.finished_at > holder.released_at
    first, second = holder.event, waiter.event
    assert (first.sequence, first.prev_hash) == (1, GENESIS_HASH)
    assert second.sequence == 2
    assert second.prev_hash == first.hash
    assert audit_verify(stream="x:1").as_dict() == {
        "valid": True,
        "events_checked": 2,
        "streams_checked": 1,
    }


def test_a_rolled_back_holder_leaves_the_sequence_to_the_waiter():
    class RollingBack(Holder):
        def run(self) -> None:
            try:
                with transaction.atomic():
                    self.event = record(action="x.lost", object_type="x", object_id=1)
                    self.recorded.set()
                    self.release.wait(TIMEOUT)
                    self.released_at = time.monotonic()
                    transaction.set_rollback(True)
            finally:
                connection.close()

    holder = RollingBack("x", 1)
    holder.start()
    assert holder.recorded.wait(TIMEOUT)
    waiter = Writer("x", 1)
    waiter.start()
    assert waiter.started.wait(TIMEOUT)
    assert wait_until_blocked_on_advisory_lock(waiter.pid)
    holder.release.set()
    holder.join(TIMEOUT)
    waiter.join(TIMEOUT)

    assert waiter.error is None, waiter.error
    assert (waiter.event.sequence, waiter.event.prev_hash) == (1, GENESIS_HASH)
    assert list(AuditEvent.objects.values_list("stream", "sequence")) == [("x:1", 1)]


def test_many_concurrent_writers_of_one_stream_build_one_unbroken_chain():
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait(TIMEOUT)
            record_atomic(action="z.step", object_type="z", object_id=1, data={"n": n})
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)

    assert errors == []
    events = list(AuditEvent.objects.filter(stream="z:1").order_by("sequence"))
    assert [e.sequence for e in events] == list(range(1, 13))
    assert sorted(e.data["n"] for e in events) == list(range(12))
    assert events[0].prev_hash == GENESIS_HASH
    for earlier, later in itertools.pairwise(events):
        assert later.prev_hash == earlier.hash
    assert audit_verify().as_dict() == {"valid": True, "events_checked": 12, "streams_checked": 1}


def test_record_refuses_to_run_outside_a_transaction():
    # In autocommit the event could commit without the change it describes (or vice versa).
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        record(action="x.loose", object_type="x", object_id=1)
    assert AuditEvent.objects.count() == 0

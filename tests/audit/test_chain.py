"""The audit log is append-only and hash-chained (DESIGN.md, invariant 6).

The database must refuse UPDATE, DELETE and TRUNCATE; verification (selector and management
command) must find any edit, deletion or reordering, at the right stream and sequence. To
tamper, a test switches the session to ``session_replication_role = replica`` (the test database
user is a superuser), which stops the append-only triggers from firing, as an attacker with raw
database access could.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import psycopg.errors
import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction

from marketplace.audit.models import AuditEvent
from marketplace.audit.selectors import audit_verify
from marketplace.audit.services import GENESIS_HASH, canonical_json, hash_of, record_atomic
from tests.support import audit_triggers_off

pytestmark = pytest.mark.django_db

TABLE = "audit_auditevent"
ROW_FIELDS = [
    "id",
    "stream",
    "sequence",
    "occurred_at",
    "actor_user_id",
    "actor_username",
    "actor_organization_id",
    "actor_organization_name",
    "action",
    "object_type",
    "object_id",
    "data",
    "prev_hash",
    "hash",
]


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def row(event_id: int) -> dict:
    return AuditEvent.objects.filter(pk=event_id).values(*ROW_FIELDS).get()


def write_stream(object_type: str, object_id: int, count: int) -> list[AuditEvent]:
    return [
        record_atomic(
            action=f"{object_type}.step",
            object_type=object_type,
            object_id=object_id,
            data={"step": n, "amount": Decimal(f"{n}000.00")},
        )
        for n in range(1, count + 1)
    ]


@pytest.fixture
def streams():
    """Three streams, in verification order: alpha:1 (2 events), deal:1 (3), zeta:1 (2)."""
    return {
        "alpha:1": write_stream("alpha", 1, 2),
        "deal:1": write_stream("deal", 1, 3),
        "zeta:1": write_stream("zeta", 1, 2),
    }


# --------------------------------------------------------------------------- the chain itself


def test_record_chains_events_of_a_stream_from_the_genesis_hash():
    first, second, third = write_stream("deal", 7, 3)

    assert [e.stream for e in (first, second, third)] == ["deal:7"] * 3
    assert [e.sequence for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3


def test_hash_is_sha256_of_the_canonical_encoding_as_stored():
    event = record_atomic(
        action="deal.priced",
        object_type="deal",
        object_id=3,
        data={"price": Decimal("1250000.00"), "note": "ü"},
    )
    stored = AuditEvent.objects.get(pk=event.pk)

    payload = canonical_json(
        {
            "stream": "deal:3",
            "sequence": 1,
            "occurred_at": stored.occurred_at.astimezone(UTC).isoformat(),
            "actor": [None, "", None, ""],
            "action": "deal.priced",
            "object": ["deal", "3"],
            "data": {"price": "1250000.00", "note": "ü"},
            "prev_hash": GENESIS_HASH,
        }
    )
    assert stored.hash == hashlib.sha256(payload.encode()).hexdigest()
    assert stored.data == {"price": "1250000.00", "note": "ü"}  # Decimal stored as a string
    assert hash_of(stored) == stored.hash


def test_data_survives_the_jsonb_round_trip_so_the_chain_stays_valid():
    # jsonb reorders keys and would turn floats into other floats: neither may break a hash.
    record_atomic(
        action="deal.noted",
        object_type="deal",
        object_id=4,
        data={
            "zeta": 1,
            "alpha": {"b": [1, 2, {"y": None, "x": True}], "a": "é€"},
            "rate": 0.1,
            "big": 2**62,
            "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            "amount": Decimal("0.10"),
        },
    )
    stored = AuditEvent.objects.get(stream="deal:4")

    assert stored.data["rate"] == "0.1"
    assert stored.data["when"] == "2024-05-01T12:30:00+00:00"
    assert hash_of(stored) == stored.hash
    assert audit_verify().valid is True


def test_a_rolled_back_event_leaves_no_gap_in_the_stream():
    record_atomic(action="deal.step", object_type="deal", object_id=5)
    with pytest.raises(RuntimeError, match="abort"), transaction.atomic():
        record_atomic(action="deal.lost", object_type="deal", object_id=5)
        raise RuntimeError("abort")
    later = record_atomic(action="deal.step", object_type="deal", object_id=5)

    assert later.sequence == 2
    assert list(AuditEvent.objects.filter(stream="deal:5").values_list("action", flat=True)) == [
        "deal.step",
        "deal.step",
    ]
    assert audit_verify(stream="deal:5").valid is True


# --------------------------------------------------------------------------- append-only


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE audit_auditevent SET data = '{\"step\": 99}'::jsonb WHERE id = %s", "UPDATE"),
        ("UPDATE audit_auditevent SET sequence = sequence + 100 WHERE id = %s", "UPDATE"),
        ("DELETE FROM audit_auditevent WHERE id = %s", "DELETE"),
        ("TRUNCATE audit_auditevent", "TRUNCATE"),
        ("TRUNCATE audit_auditevent CASCADE", "TRUNCATE"),
    ],
)
def test_database_refuses_raw_changes_to_the_log(statement, operation):
    events = write_stream("deal", 1, 2)
    before = [row(e.pk) for e in events]
    params = [events[0].pk] if "%s" in statement else []

    with pytest.raises(ProgrammingError) as excinfo, transaction.atomic():
        sql(statement, params)

    assert isinstance(excinfo.value.__cause__, psycopg.errors.InsufficientPrivilege)
    assert f"append-only: {operation} refused" in str(excinfo.value)
    # The savepoint was rolled back: the connection works and nothing changed.
    assert [row(e.pk) for e in events] == before
    assert AuditEvent.objects.count() == 2


def test_orm_update_delete_and_save_are_refused_too():
    event = write_stream("deal", 1, 1)[0]
    before = row(event.pk)

    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="deal.forged")
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        event.data = {"step": 42}
        event.save()

    assert row(event.pk) == before


def test_the_tamper_helper_restores_the_triggers():
    # Guards the tests below: after tampering, the log is protected again.
    event = write_stream("deal", 1, 1)[0]
    with audit_triggers_off():
        sql("UPDATE audit_auditevent SET action = 'deal.forged' WHERE id = %s", [event.pk])
    assert row(event.pk)["action"] == "deal.forged"

    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        sql("UPDATE audit_auditevent SET action = 'deal.again' WHERE id = %s", [event.pk])
    assert row(event.pk)["action"] == "deal.forged"


# --------------------------------------------------------------------------- verification


def run_verify_command(*args: str) -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    return code, json.loads(out.getvalue())


def test_a_clean_log_verifies(streams):
    result = audit_verify()

    assert result.as_dict() == {"valid": True, "events_checked": 7, "streams_checked": 3}
    assert audit_verify(stream="deal:1").as_dict() == {
        "valid": True,
        "events_checked": 3,
        "streams_checked": 1,
    }
    assert audit_verify(stream="nope:1").as_dict() == {
        "valid": True,
        "events_checked": 0,
        "streams_checked": 0,
    }
    assert run_verify_command() == (
        0,
        {"valid": True, "events_checked": 7, "streams_checked": 3},
    )


def test_an_empty_log_verifies():
    assert audit_verify().as_dict() == {"valid": True, "events_checked": 0, "streams_checked": 0}


def test_small_chunks_give_the_same_answer(streams):
    # The selector reads with a server-side cursor in chunks; chunk borders must not matter.
    assert audit_verify(chunk_size=1).as_dict() == audit_verify().as_dict()
    with audit_triggers_off():
        sql(
            "UPDATE audit_auditevent SET data = '{}'::jsonb WHERE id = %s",
            [streams["zeta:1"][1].pk],
        )
    assert audit_verify(chunk_size=2).first_invalid == audit_verify().first_invalid
    assert audit_verify(chunk_size=2).first_invalid["stream"] == "zeta:1"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", '{"step": 2, "amount": "9999999.00"}'),
        ("action", "deal.forged"),
        ("object_id", "2"),
        ("actor_username", "mallory"),
        ("actor_organization_id", 99),
        ("occurred_at", datetime(2020, 1, 1, tzinfo=UTC)),
    ],
)
def test_verify_finds_an_edited_event(streams, column, value):
    victim = streams["deal:1"][1]
    cast = "::jsonb" if column == "data" else ""
    with audit_triggers_off():
        sql(f"UPDATE audit_auditevent SET {column} = %s{cast} WHERE id = %s", [value, victim.pk])

    result = audit_verify()

    assert result.valid is False
    assert result.first_invalid["stream"] == "deal:1"
    assert result.first_invalid["sequence"] == 2
    assert result.first_invalid["event_id"] == victim.pk
    assert "hash" in result.first_invalid["reason"]
    # alpha:1 (2 events) was checked in full before deal:1's event 2 failed.
    assert result.events_checked == 2 + 2
    assert result.streams_checked == 2


def test_verify_finds_an_edit_whose_hash_was_recomputed(streams):
    # A careful forger rewrites event 2 and its hash: event 3 no longer links to it.
    victim = AuditEvent.objects.get(pk=streams["deal:1"][1].pk)
    victim.data = {"step": 2, "amount": "1.00"}
    forged_hash = hash_of(victim)
    with audit_triggers_off():
        sql(
            "UPDATE audit_auditevent SET data = %s::jsonb, hash = %s WHERE id = %s",
            [json.dumps(victim.data), forged_hash, victim.pk],
        )

    result = audit_verify()

    assert result.valid is False
    assert result.first_invalid["stream"] == "deal:1"
    assert result.first_invalid["sequence"] == 3
    assert "prev_hash" in result.first_invalid["reason"]


def test_verify_finds_a_deleted_event(streams):
    with audit_triggers_off():
        sql("DELETE FROM audit_auditevent WHERE id = %s", [streams["deal:1"][1].pk])

    result = audit_verify()

    assert result.valid is False
    assert result.first_invalid["stream"] == "deal:1"
    assert result.first_invalid["sequence"] == 2
    assert "missing" in result.first_invalid["reason"]
    assert result.first_invalid["event_id"] == streams["deal:1"][2].pk


def test_verify_finds_a_deleted_first_event(streams):
    with audit_triggers_off():
        sql("DELETE FROM audit_auditevent WHERE id = %s", [streams["deal:1"][0].pk])

    result = audit_verify(stream="deal:1")

    assert result.valid is False
    assert result.first_invalid["sequence"] == 1
    assert "missing" in result.first_invalid["reason"]


def test_verify_finds_swapped_events(streams):
    second, third = streams["deal:1"][1], streams["deal:1"][2]
    with audit_triggers_off():
        # (stream, sequence) is unique: swap through a free number.
        sql("UPDATE audit_auditevent SET sequence = 1000 WHERE id = %s", [second.pk])
        sql("UPDATE audit_auditevent SET sequence = 2 WHERE id = %s", [third.pk])
        sql("UPDATE audit_auditevent SET sequence = 3 WHERE id = %s", [second.pk])

    result = audit_verify()

    assert result.valid is False
    assert result.first_invalid["stream"] == "deal:1"
    assert result.first_invalid["sequence"] == 2
    assert result.first_invalid["event_id"] == third.pk


def test_verify_finds_events_swapped_with_their_hashes_relinked(streams):
    # Swap events 2 and 3 of deal:1 and also swap their prev_hash values, so each row's
    # prev_hash looks plausible in place: the recomputed hashes still give it away.
    second, third = streams["deal:1"][1], streams["deal:1"][2]
    with audit_triggers_off():
        sql(
            "UPDATE audit_auditevent SET sequence = 1000, prev_hash = %s WHERE id = %s",
            [second.prev_hash, third.pk],
        )
        sql(
            "UPDATE audit_auditevent SET sequence = 3, prev_hash = %s WHERE id = %s",
            [third.hash, second.pk],
        )
        sql("UPDATE audit_auditevent SET sequence = 2 WHERE id = %s", [third.pk])

    result = audit_verify()

    assert result.valid is False
    assert result.first_invalid["stream"] == "deal:1"
    assert result.first_invalid["sequence"] == 2


def test_an_event_moved_to_another_stream_is_found(streams):
    moved = streams["zeta:1"][1]
    with audit_triggers_off():
        sql(
            "UPDATE audit_auditevent SET stream = 'deal:1', sequence = 4 WHERE id = %s",
            [moved.pk],
        )

    result = audit_verify()

    assert result.valid is False
    assert result.first_invalid["stream"] == "deal:1"
    assert result.first_invalid["sequence"] == 4


def test_other_streams_still_verify_when_one_is_broken(streams):
    with audit_triggers_off():
        sql("DELETE FROM audit_auditevent WHERE id = %s", [streams["deal:1"][1].pk])

    assert audit_verify(stream="deal:1").valid is False
    for name, count in (("alpha:1", 2), ("zeta:1", 2)):
        assert audit_verify(stream=name).as_dict() == {
            "valid": True,
            "events_checked": count,
            "streams_checked": 1,
        }
    # Events appended after the damage start from the damaged stream's real tail.
    appended = record_atomic(action="zeta.step", object_type="zeta", object_id=1)
    assert appended.sequence == 3
    assert audit_verify(stream="zeta:1").events_checked == 3


def test_verify_audit_command_exits_1_and_reports_the_broken_event(streams):
    with audit_triggers_off():
        sql(
            "UPDATE audit_auditevent SET object_type = 'forged' WHERE id = %s",
            [streams["deal:1"][1].pk],
        )

    code, report = run_verify_command()

    assert code == 1
    assert report["valid"] is False
    assert report["first_invalid"]["stream"] == "deal:1"
    assert report["first_invalid"]["sequence"] == 2
    # Another stream alone is still valid.
    assert run_verify_command("--stream", "zeta:1") == (
        0,
        {"valid": True, "events_checked": 2, "streams_checked": 1},
    )


def test_verify_audit_command_reports_deletion_and_reordering(streams):
    with audit_triggers_off():
        sql("DELETE FROM audit_auditevent WHERE id = %s", [streams["alpha:1"][0].pk])
    code, report = run_verify_command()
    assert code == 1
    assert (report["first_invalid"]["stream"], report["first_invalid"]["sequence"]) == (
        "alpha:1",
        1,
    )

    second, third = streams["deal:1"][1], streams["deal:1"][2]
    with audit_triggers_off():
        sql("UPDATE audit_auditevent SET sequence = 1000 WHERE id = %s", [second.pk])
        sql("UPDATE audit_auditevent SET sequence = 2 WHERE id = %s", [third.pk])
        sql("UPDATE audit_auditevent SET sequence = 3 WHERE id = %s", [second.pk])
    code, report = run_verify_command("--stream", "deal:1")
    assert code == 1
    assert (report["first_invalid"]["stream"], report["first_invalid"]["sequence"]) == (
        "deal:1",
        2,
    )

"""GET /api/v1/audit-events/ (list, filters, CSV export) and /verify/ (API.md, Audit)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connection

from marketplace.audit.models import AuditEvent
from marketplace.audit.services import record_atomic
from tests.factories import OrganizationFactory
from tests.support import audit_triggers_off

LIST = "/api/v1/audit-events/"
VERIFY = "/api/v1/audit-events/verify/"
EVENT_FIELDS = {
    "id",
    "stream",
    "sequence",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "data",
    "hash",
    "prev_hash",
}


def at(moment: datetime, **kwargs) -> AuditEvent:
    """Record an event as if the clock read ``moment``."""
    with mock.patch("marketplace.audit.services.timezone.now", return_value=moment):
        return record_atomic(**kwargs)


def all_results(client, params: dict) -> list[dict]:
    response = client.get(LIST, {**params, "page_size": 200})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None, "test data must fit one page"
    assert body["count"] == len(body["results"])
    return body["results"]


def ids(results: list[dict]) -> list[int]:
    return [r["id"] for r in results]


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize(
    ("client_fixture", "status"),
    [
        ("admin_client", 200),
        ("compliance_client", 200),
        ("seller_client", 403),
        ("bidder_client", 403),
    ],
)
def test_only_platform_users_read_the_log(request, client_fixture, status):
    client = request.getfixturevalue(client_fixture)

    for path in (LIST, VERIFY, LIST + "?format=csv"):
        response = client.get(path)

        assert response.status_code == status, path
        if status == 403:
            assert response["Content-Type"] == "application/problem+json"
            assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize("path", [LIST, VERIFY, LIST + "?format=csv"])
def test_no_token_is_401(api, db, path):
    response = api.get(path)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


# --------------------------------------------------------------------------- list


def test_event_fields(compliance_client, admin_user, platform_org):
    event = record_atomic(
        action="organization.approved",
        object_type="organization",
        object_id=42,
        actor=admin_user,
        data={"from": "pending", "to": "approved"},
    )

    results = all_results(compliance_client, {"object_id": "42"})

    assert len(results) == 1
    body = results[0]
    assert set(body) == EVENT_FIELDS
    assert body["id"] == event.pk
    assert body["stream"] == "organization:42"
    assert body["sequence"] == 1
    assert body["action"] == "organization.approved"
    assert body["object_type"] == "organization"
    assert body["object_id"] == "42"
    assert body["data"] == {"from": "pending", "to": "approved"}
    assert body["hash"] == event.hash and len(body["hash"]) == 64
    assert body["prev_hash"] == "0" * 64
    assert body["actor"]["user"] == "admin"
    assert body["actor"]["organization"] == platform_org.pk
    assert datetime.fromisoformat(body["occurred_at"]) == event.occurred_at
    assert body["occurred_at"].endswith(("Z", "+00:00"))


def test_system_events_have_a_null_actor(compliance_client):
    record_atomic(action="auction.closed", object_type="auction", object_id=9)

    [body] = all_results(compliance_client, {"object_type": "auction"})

    assert body["actor"]["user"] is None
    assert body["actor"]["organization"] is None


def test_list_is_paginated_in_id_order(admin_client):
    for n in range(5):
        record_atomic(action="deal.step", object_type="deal", object_id=n)

    response = admin_client.get(LIST, {"object_type": "deal", "page_size": 2})

    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] is not None and body["previous"] is None
    second = admin_client.get(body["next"]).json()
    assert (
        ids(body["results"]) + ids(second["results"])
        == sorted(AuditEvent.objects.filter(object_type="deal").values_list("id", flat=True))[:4]
    )


def test_the_login_itself_is_in_the_log(compliance_client, compliance_user):
    results = all_results(compliance_client, {"action": "token.issued"})

    assert [r["actor"]["user"] for r in results] == ["compliance"]
    assert results[0]["object_id"] == str(compliance_user.pk)


# --------------------------------------------------------------------------- filters


@pytest.fixture
def filter_events(db):
    """Events over two organisations, two object types and three days (plus far-future ones)."""
    bank = OrganizationFactory(kind="bank", name="Filter Bank")
    buyer = OrganizationFactory(kind="buyer", name="Filter Buyer")
    day = [datetime(2001, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3)]
    return {
        "bank": bank,
        "buyer": buyer,
        "day": day,
        "e1": at(
            day[0],
            action="package.created",
            object_type="package",
            object_id=1,
            organization=bank,
        ),
        "e2": at(
            day[1],
            action="package.approved",
            object_type="package",
            object_id=1,
            organization=bank,
        ),
        "e3": at(
            day[2],
            action="bid.placed",
            object_type="auction",
            object_id=1,
            organization=buyer,
        ),
        "e4": at(
            datetime(2101, 1, 1, tzinfo=UTC),
            action="bid.placed",
            object_type="auction",
            object_id=2,
            organization=buyer,
        ),
    }


def test_filter_action(compliance_client, filter_events):
    results = all_results(compliance_client, {"action": "bid.placed"})

    assert ids(results) == [filter_events["e3"].pk, filter_events["e4"].pk]
    assert all_results(compliance_client, {"action": "bid"}) == []  # exact, not a prefix


def test_filter_object_type(compliance_client, filter_events):
    results = all_results(compliance_client, {"object_type": "package"})

    assert ids(results) == [filter_events["e1"].pk, filter_events["e2"].pk]


def test_filter_object_id(compliance_client, filter_events):
    results = all_results(compliance_client, {"object_type": "auction", "object_id": "2"})
    assert ids(results) == [filter_events["e4"].pk]

    results = all_results(compliance_client, {"object_id": "1"})
    assert {filter_events[k].pk for k in ("e1", "e2", "e3")} <= set(ids(results))
    assert filter_events["e4"].pk not in ids(results)
    assert {r["object_id"] for r in results} == {"1"}


def test_filter_organization(compliance_client, filter_events):
    bank = filter_events["bank"]
    buyer = filter_events["buyer"]

    assert ids(all_results(compliance_client, {"organization": bank.pk})) == [
        filter_events["e1"].pk,
        filter_events["e2"].pk,
    ]
    assert ids(all_results(compliance_client, {"organization": buyer.pk})) == [
        filter_events["e3"].pk,
        filter_events["e4"].pk,
    ]


def test_filter_occurred_after_is_inclusive(compliance_client, filter_events):
    results = all_results(compliance_client, {"occurred_after": "2101-01-01T00:00:00Z"})
    assert ids(results) == [filter_events["e4"].pk]

    results = all_results(
        compliance_client,
        {
            "occurred_after": filter_events["day"][1].isoformat(),
            "organization": filter_events["bank"].pk,
        },
    )
    assert ids(results) == [filter_events["e2"].pk]


def test_filter_occurred_before_is_exclusive(compliance_client, filter_events):
    results = all_results(
        compliance_client, {"occurred_before": filter_events["day"][1].isoformat()}
    )

    assert ids(results) == [filter_events["e1"].pk]


def test_filter_occurred_range(compliance_client, filter_events):
    results = all_results(
        compliance_client,
        {"occurred_after": "2001-01-02T00:00:00+00:00", "occurred_before": "2001-01-04T00:00:00Z"},
    )

    assert ids(results) == [filter_events["e2"].pk, filter_events["e3"].pk]


def test_filters_combine(compliance_client, filter_events):
    results = all_results(
        compliance_client,
        {"action": "bid.placed", "organization": filter_events["buyer"].pk, "object_id": "1"},
    )

    assert ids(results) == [filter_events["e3"].pk]


@pytest.mark.parametrize(
    "params",
    [
        {"occurred_after": "yesterday"},
        {"occurred_before": "2024-13-45"},
        {"organization": "abc"},
    ],
)
def test_bad_filter_values_are_400_problems(compliance_client, params):
    response = compliance_client.get(LIST, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"


# --------------------------------------------------------------------------- CSV export


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def test_csv_export_streams_matching_events(compliance_client, filter_events):
    response = compliance_client.get(LIST, {"format": "csv", "action": "bid.placed"})

    rows = read_csv(response)
    header, body = rows[0], rows[1:]
    assert "attachment" in response["Content-Disposition"]
    for column in (
        "id",
        "stream",
        "sequence",
        "occurred_at",
        "action",
        "object_type",
        "object_id",
        "data",
        "hash",
        "prev_hash",
    ):
        assert column in header
    assert len(body) == 2
    records = [dict(zip(header, r, strict=True)) for r in body]
    e3, e4 = filter_events["e3"], filter_events["e4"]
    assert [int(r["id"]) for r in records] == [e3.pk, e4.pk]
    assert records[0]["stream"] == "auction:1"
    assert records[0]["sequence"] == "1"
    assert records[0]["action"] == "bid.placed"
    assert records[0]["hash"] == e3.hash
    assert records[0]["prev_hash"] == e3.prev_hash
    assert datetime.fromisoformat(records[0]["occurred_at"]) == e3.occurred_at


def test_csv_export_is_not_paginated(compliance_client):
    for n in range(60):  # more than the default page size
        record_atomic(action="deal.step", object_type="deal", object_id=n)

    rows = read_csv(compliance_client.get(LIST, {"format": "csv", "object_type": "deal"}))

    assert len(rows) == 1 + 60


def test_csv_export_with_no_match_has_only_the_header(compliance_client):
    rows = read_csv(compliance_client.get(LIST, {"format": "csv", "action": "nothing.here"}))

    assert len(rows) == 1
    assert rows[0][0] == "id"


def test_csv_export_neutralises_formulas(compliance_client):
    record_atomic(action="deal.note", object_type="deal", object_id="=HYPERLINK(1)")

    rows = read_csv(compliance_client.get(LIST, {"format": "csv", "object_type": "deal"}))

    header = rows[0]
    assert rows[1][header.index("object_id")] == "'=HYPERLINK(1)"


# --------------------------------------------------------------------------- verify


def test_verify_a_clean_log(compliance_client):
    for n in (1, 2):
        for _ in range(3):
            record_atomic(action="deal.step", object_type="deal", object_id=n)

    response = compliance_client.get(VERIFY)

    assert response.status_code == 200
    body = response.json()
    streams = AuditEvent.objects.values("stream").distinct().count()
    assert body == {
        "valid": True,
        "events_checked": AuditEvent.objects.count(),
        "streams_checked": streams,
    }
    assert streams >= 3  # the two deals and the login
    only = compliance_client.get(VERIFY, {"stream": "deal:2"}).json()
    assert only == {"valid": True, "events_checked": 3, "streams_checked": 1}


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap"])
def test_verify_reports_tampering_at_the_right_place(admin_client, tamper):
    events = [record_atomic(action="deal.step", object_type="deal", object_id=1) for _ in "abc"]
    for _ in range(2):
        record_atomic(action="deal.step", object_type="deal", object_id=2)
    second, third = events[1], events[2]
    with audit_triggers_off(), connection.cursor() as cursor:
        if tamper == "edit":
            cursor.execute(
                "UPDATE audit_auditevent SET data = '{\"forged\": true}' WHERE id = %s",
                [second.pk],
            )
        elif tamper == "delete":
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [second.pk])
        else:
            cursor.execute("UPDATE audit_auditevent SET sequence = 99 WHERE id = %s", [second.pk])
            cursor.execute("UPDATE audit_auditevent SET sequence = 2 WHERE id = %s", [third.pk])
            cursor.execute("UPDATE audit_auditevent SET sequence = 3 WHERE id = %s", [second.pk])

    response = admin_client.get(VERIFY)

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["first_invalid"]["stream"] == "deal:1"
    assert body["first_invalid"]["sequence"] == 2
    assert body["first_invalid"]["reason"]
    # The untouched stream still verifies on its own.
    other = admin_client.get(VERIFY, {"stream": "deal:2"}).json()
    assert other == {"valid": True, "events_checked": 2, "streams_checked": 1}

"""The whole listing flow through HTTP, with the import run by the Celery task's code."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from listings.models import LoanTapeImport
from listings.tape_generator import write_tape
from listings.tasks import loan_tape_import


@pytest.mark.django_db
def test_seller_uploads_submits_and_compliance_approves(
    seller_client, compliance_client, bidder_client, tmp_path, django_capture_on_commit_callbacks
):
    response = seller_client.post(
        "/api/v1/packages/",
        {"title": "Q3 cards", "currency": "EUR", "cut_off_date": "2026-09-30"},
        format="json",
    )
    assert response.status_code == 201, response.content
    package = response.json()
    assert package["status"] == "draft"

    tape = write_tape(tmp_path / "tape.csv", 300, seed=5, cut_off=dt.date(2026, 9, 30))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = seller_client.post(
            f"/api/v1/packages/{package['id']}/loan-tape/",
            {"file": SimpleUploadedFile("tape.csv", tape.read_bytes(), "text/csv")},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    assert len(callbacks) == 1
    import_id = response.json()["id"]
    assert loan_tape_import.run(import_id) == "succeeded"
    assert LoanTapeImport.objects.get(pk=import_id).rows_total == 300

    status = seller_client.get(f"/api/v1/packages/{package['id']}/loan-tape/").json()
    assert status["status"] == "succeeded" and status["rows_processed"] == 300

    # Not public before approval.
    assert bidder_client.get(f"/api/v1/packages/{package['id']}/").status_code == 404
    assert seller_client.post(f"/api/v1/packages/{package['id']}/submit/").status_code == 200
    response = compliance_client.post(
        f"/api/v1/packages/{package['id']}/approve/", {}, format="json"
    )
    assert response.status_code == 200, response.content
    detail = bidder_client.get(f"/api/v1/packages/{package['id']}/").json()
    assert detail["status"] == "approved"
    assert detail["loan_count"] == 300
    strat = bidder_client.get(f"/api/v1/packages/{package['id']}/stratification/").json()
    assert strat["days_past_due"][0]["bucket"] == "0-89"
    response = bidder_client.get(f"/api/v1/packages/{package['id']}/loans/")
    assert response.status_code == 403
    assert response.json()["code"] == "nda_required"
    loans = seller_client.get(f"/api/v1/packages/{package['id']}/loans/?page_size=5").json()
    assert loans["count"] == 300 and len(loans["results"]) == 5
    assert loans["results"][0]["borrower_ref"].startswith("BRW-")
    csv_response = seller_client.get(f"/api/v1/packages/{package['id']}/loans/?format=csv")
    body = b"".join(csv_response.streaming_content).decode()
    assert body.count("\n") == 301

"""A JSON body over the limit answers 413 problem+json, as an oversized upload does (issue 11,
item 10: it answered 400), with or without an Idempotency-Key, and changes nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import RequestFactory

from listings.models import Package
from marketplace.common import errors
from tests.support import assert_problem

pytestmark = pytest.mark.django_db

PACKAGES = "/api/v1/packages/"


def oversized_json(settings) -> bytes:
    filler = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    return (
        '{"title": "Big", "currency": "EUR", "cut_off_date": "2026-09-30", '
        f'"description": "{filler}"}}'
    ).encode()


@pytest.mark.parametrize("key", [None, "big-1"], ids=["no-key", "idempotency-key"])
def test_a_json_body_over_the_limit_is_413(seller_client, settings, key):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}

    response = seller_client.post(
        PACKAGES, oversized_json(settings), content_type="application/json", **headers
    )

    body = assert_problem(response, 413, "payload_too_large")
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["detail"]
    assert not Package.objects.exists()


@pytest.mark.parametrize("handler", [errors.handler400, errors.exception_handler])
def test_a_body_too_large_found_while_reading_is_413(handler):
    """Without a Content-Length to refuse up front, Django notices while reading the body and
    raises RequestDataTooBig: to Django's 400 handler, or DRF's while it parses."""
    request = RequestFactory().post(PACKAGES)
    exc = RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")

    response = handler(request, exc) if handler is errors.handler400 else handler(exc, {})

    assert_problem(response, 413, "payload_too_large")

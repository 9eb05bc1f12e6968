"""Signatures per Standard Webhooks, checked against the reference implementation
(``standardwebhooks``), and the example of docs/INTEGRATION.md run as a reader would run it."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from notifications import signing

DOC = Path(__file__).resolve().parents[2] / "docs" / "INTEGRATION.md"


def example() -> str:
    text = DOC.read_text()
    start = text.index("Without a library")
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_the_documented_example_runs_and_matches_our_signer():
    code = example()
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "INTEGRATION.md", "exec"), scope)  # noqa: S102

    assert out.getvalue().strip() == "signature valid: True"
    ours = signing.sign(
        scope["secret"],
        msg_id=scope["msg_id"],
        timestamp=int(scope["timestamp"]),
        body=scope["body"],
    )
    assert ours == scope["header"]


def test_our_signature_is_the_reference_implementations():
    secret = signing.secret_new()
    body = '{"id":"evt_1","type":"auction.won","data":{"price":"1.00"}}'
    now = int(time.time())

    ours = signing.sign(secret, msg_id="evt_1", timestamp=now, body=body.encode())

    from datetime import UTC, datetime

    reference = Webhook(secret).sign("evt_1", datetime.fromtimestamp(now, tz=UTC), body)
    assert ours == reference
    headers = signing.headers([secret], msg_id="evt_1", timestamp=now, body=body.encode())
    assert Webhook(secret).verify(body, headers)["type"] == "auction.won"


def test_a_tampered_body_or_another_secret_fails():
    secret, other = signing.secret_new(), signing.secret_new()
    now = int(time.time())
    headers = signing.headers([secret], msg_id="evt_2", timestamp=now, body=b"{}")

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"x":1}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(b"{}", headers)


def test_secrets_are_whsec_and_32_random_bytes():
    secrets_ = {signing.secret_new() for _ in range(20)}

    assert len(secrets_) == 20
    for secret in secrets_:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32

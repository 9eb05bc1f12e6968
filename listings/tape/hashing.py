"""Borrower ids are stored only as their HMAC-SHA256 under the borrower hash key.

The one definition of that digest: its key, its padded key states (RFC 2104), the Python form
the fast path and the tests use, and the SQL form the SQL path computes in PostgreSQL from the
same pads (tests check all three agree with ``hmac.new(key, msg, sha256)``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from django.conf import settings


def borrower_hash_key() -> bytes:
    configured = getattr(settings, "BORROWER_HASH_KEY", "")
    if configured:
        return configured.encode()
    return hashlib.sha256(b"borrower-hash-key:" + settings.SECRET_KEY.encode()).digest()


def borrower_hash(borrower_id: str) -> str:
    return hmac.new(borrower_hash_key(), borrower_id.encode(), hashlib.sha256).hexdigest()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys: the digest of a message is
    ``sha256(opad + sha256(ipad + message))``."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hasher(key: bytes) -> Callable[[list[str]], list[str]]:
    """HMAC-SHA256 hex digests of many ids, the key's padded states prepared once: equal to
    ``hmac.new(key, msg, sha256).hexdigest()`` at half its per-call cost."""
    ipad, opad = hmac_pads(key)
    inner = hashlib.sha256(ipad)
    outer = hashlib.sha256(opad)

    def digest_all(values: list[str]) -> list[str]:
        out: list[str] = []
        append = out.append
        inner_copy, outer_copy = inner.copy, outer.copy
        for value in values:
            h = inner_copy()
            h.update(value.encode())
            o = outer_copy()
            o.update(h.digest())
            append(o.hexdigest())
        return out

    return digest_all


def hmac_sql(value: str) -> str:
    """SQL: the hex digest of the text ``value``, with the pads as the parameters ``ipad`` and
    ``opad`` (``sql_params``)."""
    return (
        "encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea "
        f"|| convert_to({value}, 'UTF8'))), 'hex')"
    )


def sql_params(key: bytes) -> dict[str, bytes]:
    ipad, opad = hmac_pads(key)
    return {"ipad": ipad, "opad": opad}

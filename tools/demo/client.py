"""The demo's HTTP client (standard library only) and how it prints its steps."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Any

PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-pass-2026")


class DemoError(RuntimeError):
    pass


class Client:
    base_url = "http://127.0.0.1:8000"  # set once by ``main``

    def __init__(self, username: str | None = None) -> None:
        self.username = username
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int | tuple[int, ...] = (200, 201),
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        status, raw = self._send(req, timeout=30)
        payload = json.loads(raw) if raw else None
        expected = (expect,) if isinstance(expect, int) else expect
        if status not in expected:
            raise DemoError(f"{method} {path} -> {status}, expected {expected}: {payload}")
        return status, payload

    def text(self, path: str) -> str:
        """GET a text body (e.g. a CSV export), whole."""
        req = urllib.request.Request(self.base_url + path, method="GET")  # noqa: S310
        status, raw = self._send(req, timeout=120)
        if status != 200:
            raise DemoError(f"GET {path} -> {status}: {raw[:300]!r}")
        return raw.decode("utf-8")

    def upload(self, path: str, file_path: str, *, expect: int = 202) -> tuple[int, Any]:
        """POST a file as multipart/form-data field ``file``."""
        boundary = f"----demo{uuid.uuid4().hex}"
        name = os.path.basename(file_path)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        with open(file_path, "rb") as handle:
            body = head + handle.read() + tail
        req = urllib.request.Request(self.base_url + path, data=body, method="POST")  # noqa: S310
        req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        status, raw = self._send(req, timeout=120)
        payload = json.loads(raw) if raw else None
        if status != expect:
            raise DemoError(f"POST {path} -> {status}, expected {expect}: {payload}")
        return status, payload

    def _send(self, req: urllib.request.Request, *, timeout: float) -> tuple[int, bytes]:
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def login(self) -> Client:
        _, body = self.request(
            "POST",
            "/api/v1/auth/token/",
            {"username": self.username, "password": PASSWORD},
            expect=200,
        )
        self.token = body["token"]
        return self


class _Steps:
    number = 0


def step(text: str) -> None:
    """Print the next numbered step."""
    _Steps.number += 1
    print(f"\n[{_Steps.number}] {text}", flush=True)


def show(text: str) -> None:
    print(f"    {text}", flush=True)


def cny(amount: str | None) -> str:
    """An amount as the API sends it (a decimal string), labelled with its currency."""
    return f"CNY {amount}" if amount is not None else "-"

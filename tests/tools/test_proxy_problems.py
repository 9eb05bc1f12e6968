"""The nginx server block of docs/OPERATIONS.md ("Errors answered before Django"), run as it is
written: what nginx refuses itself it answers with problem+json, where gunicorn would have
answered HTML (issue 11, item 10). Needs the nginx binary (a Debian package); skipped without."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from marketplace.common.codes import ERRORS, ErrorCode

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed"),
]


def documented_server_block() -> str:
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    section = text.split("## Errors answered before Django", 1)[1]
    return re.search(r"```nginx\n(.*?)```", section, re.S).group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[int]:
    """nginx with the documented block, its upstream a port where nothing listens."""
    prefix = tmp_path_factory.mktemp("nginx")
    port, dead = free_port(), free_port()
    block = documented_server_block().replace("listen 8080;", f"listen 127.0.0.1:{port};")
    block = block.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{dead};")
    temp = " ".join(
        f"{kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    (prefix / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {prefix}/nginx.pid; error_log {prefix}/error.log;"
        f" events {{ worker_connections 32; }}"
        f" http {{ access_log off; {temp} uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;"
        f" {block} }}"
    )
    if os.geteuid() == 0:  # as root, nginx's workers would switch to nobody
        conf = prefix / "nginx.conf"
        conf.write_text("user root; " + conf.read_text())
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def send(port: int, method: str, path: str, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("GET", "/api/v1/" + "a" * 5000, {}, 414, ErrorCode.REQUEST_LINE_TOO_LONG),
        ("GET", "/api/v1/me/", {"X-Padding": "b" * 5000}, 431, ErrorCode.HEADERS_TOO_LARGE),
        (
            "POST",
            "/api/v1/packages/",
            {"Content-Length": str(600 * 1024 * 1024), "Content-Type": "application/json"},
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
        ),
        ("GET", "/api/v1/me/", {}, 503, ErrorCode.SERVICE_UNAVAILABLE),  # upstream down
    ],
    ids=["request-line", "header", "body", "upstream-down"],
)
def test_nginx_answers_its_refusals_in_problem_json(proxy, method, path, headers, status, code):
    response, body = send(proxy, method, path, headers)

    assert response.status == status, body
    assert response.getheader("Content-Type") == "application/problem+json"
    problem = json.loads(body)
    assert problem["code"] == code
    assert problem["status"] == status == ERRORS[code].status
    assert problem["type"] == f"urn:npl-marketplace:problem:{code}"


def test_gunicorn_limits_are_above_the_proxys():
    """Else gunicorn, behind the proxy, would answer some oversized requests with HTML."""
    settings: dict[str, int] = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), {}, settings)  # noqa: S102  (our own file)
    block = documented_server_block()
    buffer_kib = int(re.search(r"large_client_header_buffers \d+ (\d+)k;", block).group(1))

    assert settings["limit_request_line"] > buffer_kib * 1024
    assert settings["limit_request_field_size"] > buffer_kib * 1024

"""What the benchmarks share: printing, percentiles, a free port (``tools.ports``), the
environment of the processes they start, and a gunicorn started and stopped around a
measurement."""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

# HOST, the only host the benchmarks ever talk to (loopback), and the project's one way to
# find a free port there (re-exported to the scripts).
from tools.ports import HOST  # noqa: E402 (needs BASE_DIR on sys.path, just above)
from tools.ports import free_port as free_port  # noqa: E402


def say(text: str = "") -> None:
    print(text, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest); NaN for none."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def child_env(log_level: str | None = None) -> dict[str, str]:
    """This process's environment, pinned to the very servers it uses (Django must be set up),
    for the processes a benchmark starts; ``log_level`` as a default for LOG_LEVEL."""
    from django.conf import settings

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
    env["DATABASE_URL"] = settings.DATABASE_URL
    env["REDIS_URL"] = settings.REDIS_URL
    env["MARKETPLACE_QUIET"] = "1"
    if log_level is not None:
        env.setdefault("LOG_LEVEL", log_level)
    return env


def start_gunicorn(
    port: int, log_path: Path, options: list[str], log_level: str | None = None
) -> subprocess.Popen:
    """gunicorn serving the project on HOST:port with ``options`` (workers, worker class, ...),
    its output appended to ``log_path``, in a session of its own."""
    log = open(log_path, "ab")  # noqa: SIM115  (closed by stop_gunicorn)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "marketplace.wsgi:application",
            "--bind",
            f"{HOST}:{port}",
            # gunicorn 27 otherwise listens on ~/.gunicorn/gunicorn.ctl, shared with any other
            # gunicorn on the machine (and removed by whichever stops first).
            "--no-control-socket",
            *options,
        ],
        cwd=BASE_DIR,
        env=child_env(log_level),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    proc.log_file = log  # type: ignore[attr-defined]
    return proc


def stop_gunicorn(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.log_file.close()  # type: ignore[attr-defined]


def wait_healthy(port: int, proc: subprocess.Popen, log_path: Path, timeout: float = 90) -> None:
    """Return once ``GET /healthz`` answers 200; raise if gunicorn exits or never gets there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log_path}")
        with (
            contextlib.suppress(OSError, http.client.HTTPException),
            urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=5) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn not healthy after {timeout:.0f}s; see {log_path}")


def django_start() -> tuple[Path, str]:
    """Set Django up in this process; return the log folder (created under DATA_DIR) and a
    description of the database server, e.g. "PostgreSQL 16.2 (embedded)"."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    log_dir = Path(settings.DATA_DIR) / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (pg_version,) = cursor.fetchone()
    where = "external" if os.environ.get("DATABASE_URL") else "embedded"
    return log_dir, f"PostgreSQL {pg_version} ({where})"

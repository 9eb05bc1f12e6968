"""Real Celery processes for the fault scripts: a worker pool per queue and one beat, started,
SIGKILLed and restarted as an operator (or the kernel's OOM killer) would.

Each process runs in its own session (process group): a kill takes the worker's main process
and its prefork children at once, as a crashed container or host would. The processes use the
database and broker URLs given, so a test can point them at its test database and a Redis
database number of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BASE_DIR = Path(__file__).resolve().parent.parent.parent
READY_TIMEOUT = 90.0


def process_env(database_url: str, broker_url: str, extra: Mapping[str, str] = {}) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": broker_url,
        "MARKETPLACE_QUIET": "1",
        **extra,
    }


@dataclass
class CeleryProcess:
    """One worker pool (``queues`` set) or the beat (``queues`` None), restartable."""

    name: str
    env: dict
    log_path: Path
    queues: str | None = None
    concurrency: int = 2
    proc: subprocess.Popen | None = None
    starts: int = 0
    argv: list[str] | None = None  # a command line of its own (else the one built here)
    _log: IO[bytes] | None = field(default=None, repr=False)

    def command(self) -> list[str]:
        if self.argv is not None:
            return self.argv
        base = [sys.executable, "-m", "celery", "-A", "marketplace"]
        if self.queues is None:
            schedule = self.log_path.with_suffix(".schedule")
            return [*base, "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
        return [
            *base,
            "worker",
            "--loglevel",
            "INFO",
            "--queues",
            self.queues,
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            f"{self.name}-{os.getpid()}-{self.starts}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]

    def start(self, *, wait: bool = True) -> float:
        """Start it; with ``wait``, return once it is ready (the monotonic time it was)."""
        self.starts += 1
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop/kill)
        marker = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            self.command(),
            cwd=BASE_DIR,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self.wait_ready(marker) if wait else time.monotonic()

    def wait_ready(self, marker: int) -> float:
        needle = b" ready." if self.queues is not None else b"beat: Starting"
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            with open(self.log_path, "rb") as log:
                log.seek(marker)
                if needle in log.read():
                    return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready within {READY_TIMEOUT:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no warm shutdown, no acknowledgement."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def broker_reset(broker_url: str, queues: tuple[str, ...] = ("critical", "imports", "events")):
    """Drop messages an earlier run left on this broker database (queues and unacked)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    client.delete(*queues, "unacked", "unacked_index", "unacked_mutex")

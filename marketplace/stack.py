"""Run the whole stack: gunicorn web, one Celery worker and Celery beat, together.

    python -m marketplace.stack run [--port 8000] [--then CMD]

Starts the embedded PostgreSQL/Redis if needed (see ``marketplace.embedded``), applies
migrations, then starts the three processes with their output in ``DATA_DIR/log/`` (never on
the terminal), waits for ``/readyz``, and runs until Ctrl-C / SIGTERM, when it stops all three
and any embedded server it started. With ``--then CMD`` it runs CMD (with ``BASE_URL`` set)
once the stack is ready, then stops everything and exits with CMD's status.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from marketplace import embedded

BASE_DIR = Path(__file__).resolve().parent.parent

# gunicorn's sync workers: one request at a time per process, and the connection closed after
# each answer, so every request waits in the kernel's single accept queue (first come, first
# served) for the next free process. gthread workers keep each client's connection in the
# process that accepted it, and processes accept unevenly, so the clients of the busiest one
# waited 3-5 times the median (docs/BENCHMARKS.md, "Bidding"). Several processes per core, as
# a request spends much of its time waiting for PostgreSQL. bench/bids.py runs the same.
WEB_WORKERS = 10
WEB_SERVER_OPTIONS = ("--worker-class", "sync")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_ready(url: str, processes: dict[str, subprocess.Popen], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m marketplace.stack")
    parser.add_argument("command", choices=["run"])
    parser.add_argument(
        "--port", default=os.environ.get("PORT", "8000"), help="web port, or 'auto' for a free one"
    )
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_WORKERS", str(WEB_WORKERS)))
    )
    parser.add_argument("--then", help="run this command once ready, then stop the stack")
    args = parser.parse_args(argv)

    port = _free_port() if args.port == "auto" else int(args.port)
    if _port_in_use(port):
        print(f"port {port} is already in use (is the stack already running?)", file=sys.stderr)
        return 1

    started_pg = not os.environ.get("DATABASE_URL") and embedded.postgres_url(start=False) is None
    started_redis = not os.environ.get("REDIS_URL") and embedded.redis_url(start=False) is None
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = embedded.postgres_url()
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = embedded.redis_url()
    env["MARKETPLACE_QUIET"] = "1"

    run_dir = embedded.data_dir() / "run" / str(port)
    log_dir = embedded.data_dir() / "log"
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable

    subprocess.run(
        [python, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )

    commands = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "marketplace.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            *WEB_SERVER_OPTIONS,
            "--timeout",
            "120",
            "--access-logfile",
            str(log_dir / "web-access.log"),
            "--error-logfile",
            str(log_dir / "web.log"),
        ],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "marketplace",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            os.environ.get("WORKER_CONCURRENCY", "2"),
            "--hostname",
            f"worker-{port}@%h",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "marketplace",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(run_dir / "celerybeat-schedule"),
            "--pidfile",
            str(run_dir / "celerybeat.pid"),
        ],
    }
    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status = 0
    try:
        for name, command in commands.items():
            log = open(log_dir / f"{name}.out.log", "ab")  # noqa: SIM115 (closed with process)
            processes[name] = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base_url}/readyz", processes)
        print(
            f"stack ready: web {base_url} (API {base_url}/api/v1/, docs {base_url}/api/docs/), "
            f"worker and beat running; logs in {log_dir}",
            flush=True,
        )
        if args.then:
            status = subprocess.call(
                shlex.split(args.then), cwd=BASE_DIR, env={**env, "BASE_URL": base_url}
            )
        else:
            print("press Ctrl-C to stop", flush=True)
            while not stopping:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        print(
                            f"{name} exited with {proc.returncode}; stopping (see {log_dir})",
                            file=sys.stderr,
                        )
                        stopping = True
                        status = 1
                time.sleep(0.5)
    except RuntimeError as exc:
        print(f"stack failed: {exc}; see {log_dir}", file=sys.stderr)
        status = 1
    finally:
        _stop(processes)
        if started_pg:
            embedded.postgres_stop()
        if started_redis:
            embedded.redis_stop()
        print("stack stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

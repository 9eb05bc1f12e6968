"""Run the whole stack: gunicorn web, the ASGI stream server, a Celery worker per pool and beat.

    python -m tools.stack run [--port 8000] [--stream-port 8001] [--workers N] [--then CMD]

The stream server (uvicorn) serves the whole API as ASGI on its own port, and is the one that
answers ``/api/v1/auctions/{id}/stream/`` (docs/ARCHITECTURE.md "Live stream").

Starts the embedded PostgreSQL/Redis if needed (``tools.embedded.servers``), applies
migrations, then starts the processes with their output in ``DATA_DIR/log/`` (never on
the terminal), waits for ``/readyz``, and runs until Ctrl-C / SIGTERM, when it stops them all
and any embedded server it started. With ``--then CMD`` it runs CMD (with ``BASE_URL`` set)
once the stack is ready, then stops everything and exits with CMD's status.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from tools import embedded
from tools.ports import free_port, port_open

BASE_DIR = Path(__file__).resolve().parent.parent

# gunicorn's sync workers: one request at a time per process, and the connection closed after
# each answer, so every request waits in the kernel's single accept queue (first come, first
# served) for the next free process. gthread workers keep each client's connection in the
# process that accepted it, and processes accept unevenly, so the clients of the busiest one
# waited 3-5 times the median (docs/BENCHMARKS.md, "Bidding"). Several processes per core, as
# a request spends much of its time waiting for PostgreSQL. bench/bids.py runs the same.
WEB_WORKERS = 10
WEB_SERVER_OPTIONS = ("--worker-class", "sync")

WORKER_POOLS = {"critical": "critical", "imports": "imports,events"}

CELERY = (sys.executable, "-m", "celery", "-A", "marketplace")

Processes = dict[str, "subprocess.Popen[bytes]"]


def _wait_ready(url: str, processes: Processes, timeout: float = 90) -> None:
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


def _stop(processes: Processes) -> None:
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


def _stream_command(port: int) -> list[str]:
    """uvicorn with uvloop and httptools, the smallest cost per open stream; a short graceful
    shutdown, since open streams never end by themselves (clients reconnect)."""
    return [
        *(sys.executable, "-m", "uvicorn", "marketplace.asgi:application"),
        *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"),
        *("--lifespan", "on", "--timeout-graceful-shutdown", "3", "--backlog", "4096"),
        "--no-access-log",
    ]


def worker_command(pool: str, queues: str, *, port: int) -> list[str]:
    """A Celery worker of one pool: its own processes, consuming only its queues."""
    default = os.environ.get("WORKER_CONCURRENCY", "2")
    concurrency = os.environ.get(f"WORKER_{pool.upper()}_CONCURRENCY", default)
    return [
        *CELERY,
        "worker",
        "--loglevel",
        "INFO",
        "--queues",
        queues,
        "--concurrency",
        concurrency,
        "--hostname",
        f"{pool}-{port}@%h",
    ]


def beat_command(run_dir: Path) -> list[str]:
    """The one beat: every beat sends every periodic task, so never start two."""
    return [
        *CELERY,
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(run_dir / "celerybeat-schedule"),
        "--pidfile",
        str(run_dir / "celerybeat.pid"),
    ]


def web_command(*, port: int, workers: int, log_dir: Path, name: str = "web") -> list[str]:
    """gunicorn on 127.0.0.1:port, logs ``<name>-access.log`` and ``<name>.log``."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "marketplace.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        *WEB_SERVER_OPTIONS,
        "--timeout",
        "120",
        "--access-logfile",
        str(log_dir / f"{name}-access.log"),
        "--error-logfile",
        str(log_dir / f"{name}.log"),
    ]


def _commands(
    *, port: int, stream_port: int, workers: int, log_dir: Path, run_dir: Path
) -> dict[str, list[str]]:
    """The command line of each process: web, stream, a worker per pool and beat."""
    return {
        "web": web_command(port=port, workers=workers, log_dir=log_dir),
        "stream": _stream_command(stream_port),
        **{
            f"worker-{pool}": worker_command(pool, queues, port=port)
            for pool, queues in WORKER_POOLS.items()
        },
        "beat": beat_command(run_dir),
    }


def _start(commands: dict[str, list[str]], env: dict[str, str], log_dir: Path) -> Processes:
    processes: Processes = {}
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
    return processes


class _Stopping:
    """Set by Ctrl-C / SIGTERM: the stack stops in order instead of dying mid-way."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def _serve(processes: Processes, stopping: _Stopping, log_dir: Path) -> int:
    """Until Ctrl-C / SIGTERM, or until one process exits (then 1)."""
    print("press Ctrl-C to stop", flush=True)
    status = 0
    while not stopping.requested:
        for name, proc in processes.items():
            if proc.poll() is not None:
                print(
                    f"{name} exited with {proc.returncode}; stopping (see {log_dir})",
                    file=sys.stderr,
                )
                stopping.requested = True
                status = 1
        time.sleep(0.5)
    return status


def _ports(args: argparse.Namespace) -> tuple[int, int] | None:
    """The web and stream ports; None (said why) when one is taken."""
    port = free_port() if args.port == "auto" else int(args.port)
    auto_stream = args.port == "auto" or args.stream_port == "auto"
    stream_port = free_port() if auto_stream else int(args.stream_port or port + 1)
    for taken in (port, stream_port):
        if port_open(taken):
            print(f"port {taken} is already in use (is the stack running?)", file=sys.stderr)
            return None
    return port, stream_port


def _run(args: argparse.Namespace) -> int:
    ports = _ports(args)
    if ports is None:
        return 1
    port, stream_port = ports
    run_dir = embedded.data_dir() / "run" / str(port)
    log_dir = embedded.data_dir() / "log"
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with embedded.servers() as urls:
        stream_url = f"http://127.0.0.1:{stream_port}"
        env = {**os.environ, **urls, "MARKETPLACE_QUIET": "1", "STREAM_URL": stream_url}
        env.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
        # Prometheus samples of this stack's processes, from zero at each start (OPERATIONS.md).
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(run_dir / "metrics"))
        shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        commands = _commands(
            port=port,
            stream_port=stream_port,
            workers=args.workers,
            log_dir=log_dir,
            run_dir=run_dir,
        )
        stopping = _Stopping()
        processes: Processes = {}
        status = 0
        try:
            processes = _start(commands, env, log_dir)
            base_url = f"http://127.0.0.1:{port}"
            _wait_ready(f"{base_url}/readyz", processes)
            _wait_ready(f"{stream_url}/readyz", processes)
            print(
                f"stack ready: web {base_url} (API {base_url}/api/v1/, docs {base_url}/api/docs/), "
                f"stream server {stream_url} (/api/v1/auctions/{{id}}/stream/), "
                f"workers ({', '.join(WORKER_POOLS)}) and beat running; logs in {log_dir}",
                flush=True,
            )
            if args.then:
                status = subprocess.call(
                    shlex.split(args.then),
                    cwd=BASE_DIR,
                    env={**env, "BASE_URL": base_url, "STREAM_URL": stream_url},
                )
            else:
                status = _serve(processes, stopping, log_dir)
        except RuntimeError as exc:
            print(f"stack failed: {exc}; see {log_dir}", file=sys.stderr)
            status = 1
        finally:
            _stop(processes)
    print("stack stopped", flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stack",
        description="Web, the stream server, the Celery worker pools and beat, together.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the stack; stop it on Ctrl-C or after --then")
    run.add_argument(
        "--port", default=os.environ.get("PORT", "8000"), help="web port, or 'auto' for a free one"
    )
    run.add_argument(
        "--stream-port",
        default=os.environ.get("STREAM_PORT"),
        help="stream server port (default: web port + 1), or 'auto'",
    )
    run.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_WORKERS", str(WEB_WORKERS)))
    )
    run.add_argument("--then", help="run this command once ready, then stop the stack")
    run.set_defaults(handler=_run)
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())

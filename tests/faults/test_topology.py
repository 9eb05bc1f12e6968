"""One topology everywhere (issue 11, items 0 and 9): the queues settings route to, the worker
pools tools/stack.py starts (make run, make demo, bench/scaled.py) and docker-compose.yml's
services agree; compose runs two web replicas behind the proxy of deploy/nginx.conf and one beat.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tools import stack

BASE_DIR = Path(settings.BASE_DIR)


def _compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]


def _queues_of(command: list[str]) -> str:
    return command[command.index("--queues") + 1]


def test_every_queue_tasks_are_routed_to_has_a_pool():
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    consumed = {q for queues in stack.WORKER_POOLS.values() for q in queues.split(",")}
    assert (
        routed | {settings.CELERY_TASK_DEFAULT_QUEUE}
        == consumed
        == {
            "critical",
            "imports",
            "events",
        }
    )
    # The critical pool consumes nothing else: no import can take one of its processes.
    assert stack.WORKER_POOLS["critical"] == "critical"


def test_compose_runs_the_same_pools_two_web_replicas_behind_the_proxy_and_one_beat():
    services = _compose()
    pools = {
        name.removeprefix("worker-"): _queues_of(service["command"])
        for name, service in services.items()
        if name.startswith("worker-")
    }
    assert pools == stack.WORKER_POOLS
    assert "worker" not in services
    assert [name for name, s in services.items() if "beat" in s.get("command", [])] == ["beat"]
    assert services["web"]["deploy"]["replicas"] == 2
    assert "ports" not in services["web"]  # reached only through the proxy
    assert services["proxy"]["ports"] == ["8000:80"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]
    assert "stream" in services["proxy"]["depends_on"]  # the live stream path's upstream
    # Uploaded tapes are written by web and read by the imports pool.
    assert "appdata:/app/var" in services["worker-imports"]["volumes"]


def _scaled():
    spec = importlib.util.spec_from_file_location("scaled", BASE_DIR / "bench" / "scaled.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scaled_stack_runs_the_compose_proxy_configuration(tmp_path):
    config = _scaled().nginx_config([18001, 18002], 18003, 18080, tmp_path, tmp_path)

    assert "server 127.0.0.1:18001;\n        server 127.0.0.1:18002;" in config
    assert "listen 127.0.0.1:18080;" in config and "least_conn;" in config
    assert "web:8000" not in config and "/dev/stdout" not in config
    # Live streams go to the stream server, unbuffered.
    assert "upstream stream {\n        server 127.0.0.1:18003;" in config
    assert "stream:8001" not in config and "proxy_buffering off;" in config
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx not installed: the configuration's syntax is not checked")
    conf = tmp_path / "nginx.conf"
    conf.write_text(config)
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr

"""The development tools (tools/): one way to find a free port, one way to start only what is
not running (and stop only that), one command-line style."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tools import demo, embedded, stack
from tools.ports import HOST, free_port, port_open

BASE_DIR = Path(__file__).resolve().parents[2]


def test_free_port_is_free_and_port_open_sees_a_listener():
    port = free_port()
    assert not port_open(port)

    with socket.socket() as listener:
        listener.bind((HOST, port))
        listener.listen()
        assert port_open(port)


@pytest.fixture
def fake_servers(monkeypatch):
    """The embedded servers' start/stop functions replaced by a log of calls."""
    calls: list[str] = []
    running = {"postgres": False, "redis": False}

    def url(name: str, scheme: str):
        def _url(*, start: bool = True) -> str | None:
            if start and not running[name]:
                calls.append(f"start {name}")
                running[name] = True
            return f"{scheme}://{name}" if running[name] else None

        return _url

    def stop(name: str):
        def _stop() -> bool:
            calls.append(f"stop {name}")
            running[name] = False
            return True

        return _stop

    monkeypatch.setattr(embedded, "postgres_url", url("postgres", "postgres"))
    monkeypatch.setattr(embedded, "redis_url", url("redis", "redis"))
    monkeypatch.setattr(embedded, "postgres_stop", stop("postgres"))
    monkeypatch.setattr(embedded, "redis_stop", stop("redis"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    return calls, running


def test_servers_starts_what_is_not_running_and_stops_only_that(fake_servers):
    calls, running = fake_servers
    running["redis"] = True  # started by someone else: left alone

    with embedded.servers() as urls:
        assert urls == {"DATABASE_URL": "postgres://postgres", "REDIS_URL": "redis://redis"}

    assert calls == ["start postgres", "stop postgres"]
    assert running == {"postgres": False, "redis": True}


def test_servers_stops_what_it_started_even_when_the_body_fails(fake_servers):
    calls, _ = fake_servers

    with pytest.raises(RuntimeError), embedded.servers():
        raise RuntimeError("the command failed")

    assert sorted(calls) == ["start postgres", "start redis", "stop postgres", "stop redis"]


def test_servers_uses_the_given_urls_and_starts_nothing(fake_servers, monkeypatch):
    calls, _ = fake_servers
    monkeypatch.setenv("DATABASE_URL", "postgres://db.example/marketplace")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example/0")

    with embedded.servers() as urls:
        assert urls == {
            "DATABASE_URL": "postgres://db.example/marketplace",
            "REDIS_URL": "redis://cache.example/0",
        }

    assert calls == []


def test_embedded_run_runs_the_command_between_start_and_stop(fake_servers, monkeypatch):
    calls, _ = fake_servers
    monkeypatch.setattr(embedded.subprocess, "call", lambda cmd: calls.append(" ".join(cmd)) or 3)

    assert embedded.main(["run", "--", "echo", "hi"]) == 3

    assert calls[2] == "echo hi"
    assert sorted(calls[:2]) == ["start postgres", "start redis"]
    assert sorted(calls[3:]) == ["stop postgres", "stop redis"]


@pytest.mark.parametrize("tool", [embedded, stack, demo])
def test_every_tool_is_argparse_with_subcommands(tool, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tool.main(["--help"])

    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert f"python -m tools.{tool.__name__.rsplit('.', 1)[1]}" in usage
    assert "run" in usage


def test_stack_refuses_a_port_in_use(capsys):
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]

        assert stack.main(["run", "--port", str(port)]) == 1

    assert f"port {port} is already in use" in capsys.readouterr().err


def test_settings_refuse_to_start_without_urls_where_tools_is_absent():
    """The Docker image has no tools/: without both URLs, settings say what is missing."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    code = "import sys; sys.modules['tools'] = None; import marketplace.settings"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )

    assert result.returncode != 0
    assert "DATABASE_URL and REDIS_URL must be set where tools/" in result.stderr

"""What the sandbox's pods print (logs) and answer (exec): plausible, and never a surprise."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import SandboxError
from mcpwall.sandbox.cluster import CRASHLOOP, RUNNING, Pod
from mcpwall.sandbox.containers import ExecResult, logs, run
from mcpwall.sandbox.scenario import crashloop_cluster


def pod(status: str) -> Pod:
    return next(p for p in crashloop_cluster().pods("staging") if p.status == status)


def test_a_crashlooping_pods_log_shows_the_crash() -> None:
    text = logs(pod(CRASHLOOP))
    assert "FATAL" in text
    assert "restarted 14 times" in text
    assert "listening" not in text


def test_a_healthy_pods_log_shows_it_serving() -> None:
    text = logs(pod(RUNNING))
    assert "listening on :8080" in text
    assert "FATAL" not in text


def test_tail_keeps_the_last_lines() -> None:
    whole = logs(pod(CRASHLOOP)).splitlines()
    assert logs(pod(CRASHLOOP), tail=2).splitlines() == whole[-2:]
    assert logs(pod(CRASHLOOP), tail=0) == ""


def test_exec_answers_the_commands_an_agent_tries_first() -> None:
    running = pod(RUNNING)
    assert run(running, ["hostname"]) == ExecResult(running.name)
    assert f"APP_ENV={running.namespace}" in run(running, ["env"]).output
    assert run(running, ["/bin/sh", "-c", "cat /etc/hostname"]) == ExecResult(running.name)
    assert run(running, ["ls", "/app"]).output == "VERSION\nconfig.yaml"
    assert run(running, ["cat", "/app/VERSION"]) == ExecResult("2.14.1")


def test_exec_fails_like_a_slim_image_would() -> None:
    running = pod(RUNNING)
    assert run(running, ["curl", "localhost"]) == ExecResult("sh: curl: not found", 127)
    assert run(running, ["cat", "/etc/shadow"]).exit_code == 1


def test_there_is_nothing_to_exec_into_in_a_crashlooping_pod() -> None:
    with pytest.raises(SandboxError, match=r"is not running \(CrashLoopBackOff\)"):
        run(pod(CRASHLOOP), ["ls"])


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(SandboxError, match="expected at least one word"):
        run(pod(RUNNING), [])

"""``mcpwall demo`` end to end: it plays and checks the story, fails naming the step when the
story is not kept, and under ``--keep`` serves a real agent until Ctrl-C.

Its children (the sandbox and ``mcpwall serve``) are real processes on loopback ports; each
test checks they are gone afterwards, and that nothing listens on their ports any more.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from rich.console import Console

from mcpwall.demo import runner, story
from mcpwall.demo.runner import run_demo
from mcpwall.demo.stage import seed_policy_text
from tests.e2e.harness import MCPWALL, agent, decision_of, text_of
from tests.fixtures.servers import children_of, listening_addresses

pytestmark = pytest.mark.e2e

TIMEOUT = 60.0
STEP_TITLES = (
    "1. The agent lists the tools",
    "2. Staging: the fix that worked twice this week",
    "3. Handed the wrong namespace: payments-prod",
    "4. The right namespace, payments-staging: not on the list",
    "5. Calling a hidden tool by name",
    "6. apply_manifest in staging: the combination of fields",
    "7. A runaway loop (another agent, its own grant)",
    "8. mcpwall logs summary: which guardrails fired",
)
_HOME = re.compile(r"^  home\s+(\S+)", re.MULTILINE)
_PORTS = re.compile(r"http://127\.0\.0\.1:(\d+)/mcp")


def environment() -> dict[str, str]:
    """The test's environment, with settings that would point the demo elsewhere: it must
    ignore them (the demo is the embedded default, always)."""
    return {**os.environ, "MCPWALL_DATABASE_URL": "postgresql://nowhere.invalid/x"}


def home_and_ports(output: str) -> tuple[Path, set[int]]:
    found = _HOME.search(output)
    assert found is not None, output
    return Path(found.group(1)), {int(port) for port in _PORTS.findall(output)}


def assert_stopped(ports: set[int]) -> None:
    assert ports
    assert [port for port in ports if listening_addresses(port)] == []


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_the_demo_plays_every_step_and_exits_0() -> None:
    done = subprocess.run(
        [MCPWALL, "demo"], env=environment(), capture_output=True, text=True, timeout=TIMEOUT
    )
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    for title in STEP_TITLES:
        assert title in output
    for verdict in (
        "ALLOWED  upstream: pod",  # the staging delete
        "DENIED  [POLICY DENIED] Namespace is outside the allowed non-production set.",
        "REFUSED  JSON-RPC error -32602 Unknown tool: delete_namespace",
        "DENIED  [POLICY DENIED] Manifest applies are limited to non-production namespaced resources.",
        "DENIED  /tools/delete_pod/limits/0  retry_after_s=",
        'lint: warning /tools/delete_pod/require/0/conditions/0/value: regex "-staging$"',
        "The cluster before",
        "The cluster after",
        "✓ every step behaved as the story says",
    ):
        assert verdict in output
    sections = re.split(r"^── \d\. ", output, flags=re.MULTILINE)[1:]
    assert len(sections) == len(STEP_TITLES)
    assert [section.split("\n")[0] for section in sections if "  ✓ " not in section] == []
    assert "mcpw_" not in output  # no token printed without --keep
    home, ports = home_and_ports(output)
    assert not home.exists()  # the throwaway home is gone
    assert_stopped(ports)


def weaken(change: Callable[[dict[str, Any]], None]) -> str:
    document = json.loads(seed_policy_text())
    change(document)
    return json.dumps(document)


def allow_production(policy: dict[str, Any]) -> None:
    policy["tools"]["delete_pod"]["require"][0]["conditions"][0]["value"].append("payments-prod")


def hide_nothing(policy: dict[str, Any]) -> None:
    del policy["hide"]


def raise_the_limit(policy: dict[str, Any]) -> None:
    policy["tools"]["delete_pod"]["limits"][0]["max"] = 50


@pytest.mark.parametrize(
    ("change", "step", "seen"),
    [
        (hide_nothing, "tools/list hides four tools", "no hidden tool listed"),
        (allow_production, "delete in payments-prod", "allowed: pod"),
        (raise_the_limit, "runaway delete loop", "5 allowed, then denied"),
    ],
)
def test_a_step_that_does_not_behave_as_the_story_says_ends_the_demo_with_1(
    change: Callable[[dict[str, Any]], None], step: str, seen: str
) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False, markup=False, soft_wrap=True)
    code = run_demo(console, policy_text=weaken(change))
    output = out.getvalue()
    assert code == 1, output
    assert f'✗ step "{step}" did not behave as the story says' in output
    assert seen in output
    assert "every step behaved" not in output
    home, ports = home_and_ports(output)
    assert not home.exists()
    assert_stopped(ports)


@pytest.fixture
def kept_demo() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [MCPWALL, "demo", "--keep"], env=environment(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as process:  # fmt: skip
        try:
            yield process
        finally:
            stop_demo(process)


def stop_demo(process: subprocess.Popen[str]) -> None:
    """Stop a demo a test left running, as a user would (SIGTERM: it stops its children); if
    that fails, kill it and its children, which live in sessions of their own."""
    if process.poll() is not None:
        return
    children = children_of(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        for pid in [process.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    """What the process prints, up to at least ``marker``. Read from the file descriptor: a
    buffered reader would take in more than a line and leave select() nothing to report."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    data = b""
    while marker.encode() not in data:
        readable, _, _ = select.select([descriptor], [], [], TIMEOUT)
        chunk = os.read(descriptor, 65536) if readable else b""
        assert chunk, data.decode()
        data += chunk
    return data.decode()


async def call_the_wall(url: str, token: str) -> tuple[list[str], Any, str]:
    async with agent(url, token, "legacy") as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        denied = await client.call_tool("delete_pod", {"namespace": "payments-prod", "name": "x"})
        return tools, decision_of(denied), text_of(denied)


def test_keep_serves_a_real_agent_until_ctrl_c(kept_demo: subprocess.Popen[str]) -> None:
    output = read_until(kept_demo, "Ctrl-C stops the gateway and the sandbox.")
    url = re.search(r"^  url\s+(\S+)$", output, re.MULTILINE)
    token = re.search(r"^  token\s+(\S+)", output, re.MULTILINE)
    assert url is not None
    assert token is not None, output
    assert f'--header "Authorization: Bearer {token.group(1)}"' in output  # Claude Code
    children = children_of(kept_demo.pid)
    assert len(children) == 2  # the sandbox and mcpwall serve
    home, ports = home_and_ports(output)
    try:
        tools, decision, text = anyio.run(call_the_wall, url.group(1), token.group(1))
        kept_demo.send_signal(signal.SIGINT)
        code = kept_demo.wait(timeout=TIMEOUT)
        assert kept_demo.stdout is not None
        rest = kept_demo.stdout.read()
        assert code == 0, rest
        assert "get_secret" not in tools
        assert "delete_pod" in tools
        assert decision == {
            "rule": "/tools/delete_pod/require/0/conditions/0",
            "policy": "seed",
            "version": 1,
        }
        assert text == "[POLICY DENIED] Namespace is outside the allowed non-production set."
        assert "stopped. The demo's home stays at" in rest
        assert "Traceback" not in output + rest
        assert [pid for pid in children if alive(pid)] == []
        assert_stopped(ports)
        assert (home / "mcpwall.db").exists()  # kept, for `mcpwall logs`
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_an_interrupted_demo_stops_everything_and_exits_130(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def interrupted(play: Any) -> None:
        raise KeyboardInterrupt

    first, *_ = story.STEPS
    monkeypatch.setattr(runner, "STEPS", (first, ("interrupted", "Ctrl-C", interrupted)))
    out = io.StringIO()
    code = run_demo(Console(file=out, width=200, markup=False, soft_wrap=True))
    output = out.getvalue()
    assert code == 130, output
    assert "interrupted" in output
    home, ports = home_and_ports(output)
    assert not home.exists()
    assert_stopped(ports)


def test_sigterm_stops_a_kept_demo_as_ctrl_c_does(kept_demo: subprocess.Popen[str]) -> None:
    output = read_until(kept_demo, "Ctrl-C stops the gateway and the sandbox.")
    children = children_of(kept_demo.pid)
    home, ports = home_and_ports(output)
    try:
        kept_demo.send_signal(signal.SIGTERM)
        assert kept_demo.wait(timeout=TIMEOUT) == 0
        assert [pid for pid in children if alive(pid)] == []
        assert_stopped(ports)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_kept_demo_whose_gateway_dies_says_so_and_exits_1(
    kept_demo: subprocess.Popen[str],
) -> None:
    output = read_until(kept_demo, "Ctrl-C stops the gateway and the sandbox.")
    home, ports = home_and_ports(output)
    (gateway,) = [
        pid for pid in children_of(kept_demo.pid)
        if " serve " in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    ]  # fmt: skip
    os.kill(gateway, signal.SIGKILL)
    code = kept_demo.wait(timeout=TIMEOUT)
    assert kept_demo.stdout is not None
    rest = kept_demo.stdout.read()
    assert code == 1, rest
    assert '✗ step "keep running" did not behave as the story says' in rest
    assert "mcpwall serve to keep running" in rest
    assert not home.exists()  # a failed demo keeps nothing
    assert_stopped(ports)

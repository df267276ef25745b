"""Running mcpwall for real: ``mcpwall serve`` as a process on loopback ports, configured
through its own CLI, with the official SDK client (``mcp`` 2.3.0) as the agent.

A :class:`Gateway` owns an ``MCPWALL_HOME``. Configure it with :meth:`Gateway.apply` (one
``mcpwall apply -f`` for upstreams, policies and grants) or the single commands
(:meth:`~Gateway.issue`, :meth:`~Gateway.revoke`, :meth:`~Gateway.set_policy`), which also work
while it serves. :meth:`~Gateway.start` waits for ``/readyz`` in a bounded poll (no fixed
sleeps); :meth:`~Gateway.stop` sends SIGTERM and waits for the exit, and
:meth:`~Gateway.stop_cleanly` insists it was clean: code 0, no traceback ever logged.

:func:`agent` connects the SDK client to a gateway URL in either era, with a bearer token;
:func:`stdio_agent` spawns ``mcpwall stdio`` the way a desktop agent would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Literal

import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from tests.fixtures.servers import LOOPBACK, free_port, poll

MCPWALL: Final = str(Path(sys.executable).with_name("mcpwall"))
LEGACY: Final = "legacy"
MODERN: Final = "2026-07-28"
MODES: Final = (LEGACY, MODERN)
Mode = Literal["legacy", "2026-07-28"]

READY_TIMEOUT: Final = 30.0
BIND_ATTEMPTS: Final = 3
STOP_TIMEOUT: Final = 20.0
CLI_TIMEOUT: Final = 60.0
# Settings the developer's shell may carry that would point a test gateway elsewhere.
FOREIGN_SETTINGS: Final = ("MCPWALL_DATABASE_URL", "MCPWALL_REDIS_URL", "MCPWALL_TOKEN")
_TOKEN_LINE = re.compile(r"^token (\S+): (\S+)$", re.MULTILINE)
# Runs a command with its limit on open files (soft and hard) set to argv[1].
_WITH_OPEN_FILES: Final = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)


class Gateway:
    """One ``mcpwall serve`` on 127.0.0.1, its home in a directory of the test's own;
    ``open_files`` limits the descriptors it may have open (soft and hard limit alike)."""

    def __init__(
        self, home: Path, env: Mapping[str, str] | None = None, *, open_files: int | None = None
    ) -> None:
        self.home = home
        self.open_files = open_files
        self.port, self.admin_port = _two_free_ports()
        environ = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
        self.env = {**environ, "MCPWALL_HOME": str(home), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "serve.log"

    # -- configuring, through the CLI --------------------------------------------------------

    def cli(self, *args: str) -> str:
        """Run ``mcpwall ARGS`` against this home; its stdout, or AssertionError on failure."""
        done = subprocess.run(
            [MCPWALL, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"mcpwall {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def apply(self, config: Mapping[str, object]) -> dict[str, str]:
        """``mcpwall apply -f`` a config (upstreams, policies, grants); the new grants' tokens
        by label."""
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "mcpwall.json"
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return dict(_TOKEN_LINE.findall(self.cli("apply", "-f", str(path))))

    def set_policy(self, name: str, document: Mapping[str, object]) -> None:
        """Store a new version of policy ``name`` (``mcpwall policy set``)."""
        path = self.home / f"{name}.policy.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        self.cli("policy", "set", name, str(path))

    def issue(self, label: str, bindings: Mapping[str, str]) -> str:
        """Issue a grant (``mcpwall grant issue --json``); its token."""
        binds = [arg for pair in bindings.items() for arg in ("--bind", "=".join(pair))]
        token = json.loads(self.cli("grant", "issue", "--label", label, *binds, "--json"))["token"]
        assert isinstance(token, str)
        return token

    def revoke(self, label: str) -> None:
        self.cli("grant", "revoke", label)

    # -- serving -----------------------------------------------------------------------------

    def url(self, upstream: str | None = None) -> str:
        """``/mcp/{upstream}``, or the aggregate ``/mcp``."""
        base = f"http://{LOOPBACK}:{self.port}/mcp"
        return base if upstream is None else f"{base}/{upstream}"

    def start(self) -> None:
        """Start serving; return once ``/readyz`` answers 200.

        The ports were free when chosen, but another process on the machine may take one
        before the gateway binds it: then it starts again on other ports (a few times)."""
        for attempt in range(BIND_ATTEMPTS):
            try:
                self._start_once()
                return
            except AssertionError:
                if "address already in use" not in self.log or attempt == BIND_ATTEMPTS - 1:
                    raise
                self.process = None
                self.port, self.admin_port = _two_free_ports()

    def _start_once(self) -> None:
        assert self.process is None, "already started"
        command = [MCPWALL, "serve", "--host", LOOPBACK]
        command += ["--port", str(self.port), "--admin-port", str(self.admin_port)]
        if self.open_files is not None:
            command = [sys.executable, "-c", _WITH_OPEN_FILES, str(self.open_files), *command]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        if poll(self._ready, READY_TIMEOUT, interval=0.05) is None:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"/readyz never answered 200 within {READY_TIMEOUT} s:\n{self.log}"
            )

    def stop(self) -> int:
        """SIGTERM, and wait for the exit; its code (AssertionError if it had to be killed)."""
        process = self.process
        assert process is not None, "not started"
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"no exit {STOP_TIMEOUT} s after SIGTERM:\n{self.log}") from None

    def stop_cleanly(self) -> None:
        """Stop; AssertionError unless it exited 0 without ever logging a traceback (an
        exception nothing handled, such as one that escaped to the ASGI server)."""
        code = self.stop()
        assert code == 0, f"mcpwall serve exited with {code}:\n{self.log}"
        assert "Traceback" not in self.log, self.log

    @property
    def log(self) -> str:
        """What the server printed (stdout and stderr) so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _ready(self) -> bool | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"mcpwall serve exited with {self.process.returncode}:\n{self.log}"
            )
        try:
            with urllib.request.urlopen(
                f"http://{LOOPBACK}:{self.port}/readyz", timeout=2
            ) as answer:
                return True if answer.status == 200 else None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None


# -- agents --------------------------------------------------------------------------------------


@asynccontextmanager
async def agent(url: str, token: str, mode: Mode, **options: Any) -> AsyncIterator[Client]:
    """The SDK client connected to ``url`` over Streamable HTTP with ``token``, in ``mode``.

    ``options`` are :class:`mcp.Client` fields (callbacks, ``read_timeout_seconds``, …). The
    client's response cache is off: each test must see what the gateway answers now.
    """
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30.0) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, cache=None, **options) as client:
            yield client


def stdio_agent(
    upstream: str, token: str, env: Mapping[str, str], mode: Mode, **options: Any
) -> Client:
    """The SDK client spawning ``mcpwall stdio --upstream UPSTREAM`` with ``MCPWALL_TOKEN``."""
    params = StdioServerParameters(
        command=MCPWALL,
        args=["stdio", "--upstream", upstream],
        env={**env, "MCPWALL_TOKEN": token},
    )
    return Client(params, mode=mode, cache=None, **options)


def stateless_body(tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A 2026-07-28 ``tools/call`` request (its envelope in ``_meta``)."""
    envelope = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": secrets.token_hex(4),
        "method": "tools/call",
        "params": {"name": tool, "arguments": dict(arguments), "_meta": envelope},
    }


def stateless_headers(token: str, tool: str) -> dict[str, str]:
    """The headers a 2026-07-28 client sends with a ``tools/call`` of ``tool``."""
    return {
        "authorization": f"Bearer {token}",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": tool,
        "accept": "application/json, text/event-stream",
    }


async def stateless_call(
    client: httpx.AsyncClient, url: str, token: str, tool: str, arguments: Mapping[str, Any]
) -> httpx.Response:
    """One stateless ``tools/call`` of ``tool`` at ``url`` (``/mcp/{upstream}``); the answer."""
    body = stateless_body(tool, arguments)
    return await client.post(url, json=body, headers=stateless_headers(token, tool))


def tool_names(tools: Sequence[Any]) -> list[str]:
    return [tool.name for tool in tools]


async def all_tool_names(client: Client, *, max_pages: int = 20) -> list[str]:
    """Every tool the server lists, following ``nextCursor`` page after page."""
    names: list[str] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = await client.list_tools(cursor=cursor)
        names += tool_names(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return names
    raise AssertionError(f"tools/list still had a next page after {max_pages}")


def text_of(result: CallToolResult) -> str:
    """The text of a tool result's first content item."""
    first = result.content[0]
    assert isinstance(first, TextContent), result
    return first.text


def decision_of(result: CallToolResult) -> object:
    """What the gateway says about its decision in a denial (DESIGN §4)."""
    assert result.meta is not None, result
    return result.meta.get("io.mcpwall/decision")


def _two_free_ports() -> tuple[int, int]:
    port, other = free_port(), free_port()
    while other == port:
        other = free_port()
    return port, other

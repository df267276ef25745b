"""Scale of one ``mcpwall serve`` process (issue 16 §4; docs/performance.md "Scale of one
process"): a catalogue of 1,000 tools, 1,000 legacy sessions, 1,000 listen streams.

Run with ``make bench`` (or ``.venv/bin/python bench/scale.py [--count N]``). Each part starts
the SDK fixture server over Streamable HTTP (``tests/fixtures/fixture_server.py``) and
``mcpwall serve`` in front of it (SQLite store, proxy log on), on free 127.0.0.1 ports, the
gateway pinned to one CPU and the fixture to the other when there are two. Every figure is
printed beside its baseline, measured in the same run:

* ``tools/list`` of an upstream offering 1,020 tools (``--tools 1000``: ``bulk_0000``… and the
  fixture's own 20), stateless 2026-07-28: straight from the upstream, through mcpwall with a
  policy that hides nothing, and through mcpwall with one that hides 500 of them (the
  "filtered" list); ``ROUNDS`` rounds of ``LISTS`` calls each, the paths' order rotating, the
  figure the median round trip;
* 1,000 legacy sessions (``initialize`` then ``notifications/initialized``, each holding its
  upstream session) held open: the gateway's resident memory (``VmRSS`` from ``/proc``) and the
  latency an allowed stateless call adds over the direct call (``bench/gateway.py``'s paired
  method), with none open and then with the 1,000 open;
* 1,000 2026-07-28 ``subscriptions/listen`` streams held open (each acknowledged before the
  next figure): the same two figures, with none and with the 1,000.

The per-grant caps (``MCPWALL_SESSIONS_PER_GRANT``, ``MCPWALL_LISTENS_PER_GRANT``) are raised
to the count for the run: the defaults are what one agent needs, not what a process can hold.
Nothing is asserted about time; the tables are printed with the machine and its load average.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway import MODERN, added_latency, cpus, machine
from processes import LOOPBACK, free_port, home_env, mcpwall, ready_url, running, wait_healthy

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "fixture_server.py"
UPSTREAM = "k8s"
SEED_POLICY = REPO / "tests" / "core" / "policy" / "cases" / "seed.policy.json"
COUNT = 1000
BULK_TOOLS = 1000
ROUNDS = 10
LISTS = 20
LEGACY = "2025-11-25"
OPEN_AT_ONCE = 50  # listen requests in flight while opening the streams


@dataclass
class Gateway:
    url: str  # /mcp/k8s on the gateway
    direct: str  # the fixture's own /mcp
    pid: int
    tokens: dict[str, str]  # grant label → token


@contextmanager
def gateway(
    scratch: Path,
    policies: dict[str, dict[str, object]],
    tools: int = 0,
    env: dict[str, str] | None = None,
) -> Iterator[Gateway]:
    """The fixture (with ``tools`` bulk tools) and ``mcpwall serve`` in front of it, a grant
    for each policy (labelled by the policy's name)."""
    available = cpus()
    gateway_cpu, fixture_cpu = (available[0], available[1]) if len(available) > 1 else (None, None)
    home = scratch / "home"
    home.mkdir()
    fixture = [
        sys.executable,
        str(FIXTURE),
        "http",
        "--port",
        str(free_port()),
        "--tools",
        str(tools),
    ]
    with running(fixture, dict(os.environ), scratch / "fixture.log", fixture_cpu) as upstream:
        direct = ready_url(upstream, scratch / "fixture.log")
        mcpwall(home, "upstream", "add", UPSTREAM, "--url", direct)
        tokens = {}
        for name, policy in policies.items():
            path = scratch / f"{name}.json"
            path.write_text(json.dumps(policy))
            mcpwall(home, "policy", "set", name, str(path))
            issued = mcpwall(
                home, "grant", "issue", "--label", name, "--bind", f"{UPSTREAM}={name}", "--json"
            )
            tokens[name] = str(json.loads(issued)["token"])
        port, admin = free_port(), free_port()
        serve = [
            sys.executable,
            "-m",
            "mcpwall",
            "serve",
            "--port",
            str(port),
            "--admin-port",
            str(admin),
        ]
        log = scratch / "gateway.log"
        with running(serve, home_env(home) | (env or {}), log, gateway_cpu) as process:
            origin = f"http://{LOOPBACK}:{port}"
            wait_healthy(f"{origin}/healthz", process, log)
            yield Gateway(f"{origin}/mcp/{UPSTREAM}", direct, process.pid, tokens)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def post(
    connection: http.client.HTTPConnection,
    path: str,
    body: Mapping[str, object],
    headers: dict[str, str],
) -> tuple[int, dict[str, str], bytes]:
    return send(connection, "POST", path, json.dumps(body), headers)


def send(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: str | None,
    headers: dict[str, str],
) -> tuple[int, dict[str, str], bytes]:
    """One request on a kept-alive connection; sent again on a new one if the server had
    closed the old one while it sat idle (the request never reached it)."""
    try:
        connection.request(method, path, body=body, headers=headers)
    except (BrokenPipeError, ConnectionResetError):
        connection.close()
        connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def modern(method: str, params: dict[str, object], request_id: int) -> dict[str, object]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "mcpwall-bench", "version": "1"},
    }
    params = {**params, "_meta": meta}
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def modern_headers(method: str, token: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    return headers | ({} if token is None else {"Authorization": f"Bearer {token}"})


# ── tools/list of 1,000 tools ────────────────────────────────────────────────────────────


def tools_list(scratch: Path) -> list[str]:
    hidden = [f"bulk_{i:04d}" for i in range(BULK_TOOLS // 2, BULK_TOOLS)]
    policies: dict[str, dict[str, object]] = {
        "everything": {"version": "1", "default": "allow"},
        "filtered": {"version": "1", "default": "allow", "hide": hidden},
    }
    with gateway(scratch, policies, tools=BULK_TOOLS) as running_gateway:
        paths = {
            "straight from the upstream": (running_gateway.direct, None),
            "through mcpwall, nothing hidden": (
                running_gateway.url,
                running_gateway.tokens["everything"],
            ),
            f"through mcpwall, {len(hidden)} hidden (filtered)": (
                running_gateway.url,
                running_gateway.tokens["filtered"],
            ),
        }
        connections = {name: _connect(url) for name, (url, _) in paths.items()}
        times: dict[str, list[float]] = {name: [] for name in paths}
        listed: dict[str, tuple[int, int]] = {}
        names = list(paths)
        for round_number in range(ROUNDS + 1):  # the first round warms up
            order = names[round_number % 3 :] + names[: round_number % 3]
            for name in order:
                url, token = paths[name]
                # A fresh connection each round (uvicorn drops one idle for 5 s), opened by
                # one call left out of the figures.
                connections[name].close()
                connections[name] = _connect(url)
                for i in range(-1, LISTS):
                    started = time.perf_counter()
                    status, _, body = post(
                        connections[name],
                        urllib.parse.urlsplit(url).path,
                        modern("tools/list", {}, i),
                        modern_headers("tools/list", token),
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    if status != 200:
                        sys.exit(f"tools/list {name}: HTTP {status} {body[:300]!r}")
                    if round_number and i >= 0:
                        times[name].append(elapsed)
                    listed[name] = (len(json.loads(body)["result"]["tools"]), len(body))
    base = statistics.median(times[names[0]])
    lines = [
        f"| tools/list, {BULK_TOOLS + 20:,} tools upstream | tools listed | bytes "
        f"| median round trip | added | ratio to straight from the upstream |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        median = statistics.median(times[name])
        count, size = listed[name]
        lines.append(
            f"| {name} | {count:,} | {size:,} | {median:.2f} ms "
            f"| {median - base:+.2f} ms | {median / base:.2f}× |"
        )
    return lines


def _connect(url: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=60)


# ── Sessions and listen streams held open ────────────────────────────────────────────────


@dataclass
class State:
    rss_mib: float
    added_ms: float
    direct_ms: float


def state(running_gateway: Gateway, token: str) -> State:
    added = added_latency(running_gateway.direct, running_gateway.url, token)
    return State(
        rss_mib(running_gateway.pid),
        statistics.median(added.differences),
        statistics.median(added.direct),
    )


def open_sessions(running_gateway: Gateway, token: str, count: int) -> list[str]:
    """``count`` legacy sessions, initialized, left open; their ids."""
    connection = _connect(running_gateway.url)
    path = urllib.parse.urlsplit(running_gateway.url).path
    accept = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {token}",
    }
    sessions = []
    for n in range(count):
        body = {
            "jsonrpc": "2.0",
            "id": n,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": f"agent-{n}", "version": "1"},
            },
        }
        status, headers, answer = post(connection, path, body, accept)
        session = {k.lower(): v for k, v in headers.items()}.get("mcp-session-id")
        if status != 200 or session is None:
            sys.exit(f"initialize {n}: HTTP {status} {answer[:300]!r}")
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        in_session = accept | {"Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY}
        status, _, answer = post(connection, path, note, in_session)
        if status != 202:
            sys.exit(f"notifications/initialized {n}: HTTP {status} {answer[:300]!r}")
        sessions.append(session)
    connection.close()
    return sessions


class Streams:
    """``count`` listen streams, each acknowledged, held open on an event loop of their own
    until :meth:`close`."""

    def __init__(self, url: str, token: str, count: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        self.loop.run_until_complete(self._open(url, token, count))

    async def _open(self, url: str, token: str, count: int) -> None:
        gate = asyncio.Semaphore(OPEN_AT_ONCE)
        parts = urllib.parse.urlsplit(url)
        body = json.dumps(
            modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, 1)
        ).encode()
        headers = modern_headers("subscriptions/listen", token) | {
            "Host": parts.netloc,
            "Content-Length": str(len(body)),
        }
        request = (
            f"POST {parts.path} HTTP/1.1\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        ).encode() + body

        async def one() -> None:
            async with gate:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(request)
                seen = b""
                while b"acknowledged" not in seen:
                    chunk = await asyncio.wait_for(reader.read(65536), 60)
                    if not chunk:
                        sys.exit(
                            f"a listen stream ended before its acknowledgement: {seen[:300]!r}"
                        )
                    seen += chunk
                if not seen.startswith(b"HTTP/1.1 200"):
                    sys.exit(f"a listen request was refused: {seen[:300]!r}")
                self.writers.append(writer)

        await asyncio.gather(*(one() for _ in range(count)))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()


def held_open(scratch: Path, count: int) -> list[str]:
    seed = json.loads(SEED_POLICY.read_text())
    caps = {
        "MCPWALL_SESSIONS_PER_GRANT": str(count),
        "MCPWALL_MAX_SESSIONS": str(count * 2),
        "MCPWALL_LISTENS_PER_GRANT": str(count),
        "MCPWALL_MAX_CONNECTIONS": str(count * 4),
        "MCPWALL_MAX_CONNECTIONS_PER_CLIENT": str(count * 4),
    }
    lines = [
        "| held open by one process | resident memory | per one held | added per allowed "
        "call (direct) | ratio to none held (before and after, averaged) |",
        "|---|---|---|---|---|",
    ]
    for what in ("legacy sessions", "2026-07-28 listen streams"):
        part = scratch / what.split()[-1]
        part.mkdir()
        with gateway(part, {"seed": seed}, env=caps) as running_gateway:
            token = running_gateway.tokens["seed"]
            state(running_gateway, token)  # a fresh process's first calls are slower: warm it up
            before = state(running_gateway, token)
            if what == "legacy sessions":
                sessions = open_sessions(running_gateway, token, count)
                held = state(running_gateway, token)
                close_sessions(running_gateway, token, sessions)
            else:
                streams = Streams(running_gateway.url, token, count)
                try:
                    held = state(running_gateway, token)
                finally:
                    streams.close()
            after = state(running_gateway, token)
        none_added = (before.added_ms + after.added_ms) / 2
        per = (held.rss_mib - before.rss_mib) * 1024 / count
        lines += [
            f"| none, before ({what}) | {before.rss_mib:.1f} MiB | | "
            f"{before.added_ms:.3f} ms ({before.direct_ms:.3f} ms) | |",
            f"| {count:,} {what} | {held.rss_mib:.1f} MiB (+{held.rss_mib - before.rss_mib:.1f}) "
            f"| {per:.1f} KiB | {held.added_ms:.3f} ms ({held.direct_ms:.3f} ms) "
            f"| memory {held.rss_mib / before.rss_mib:.2f}×, "
            f"added {held.added_ms / none_added:.2f}× |",
            f"| none, after closing them | {after.rss_mib:.1f} MiB | | "
            f"{after.added_ms:.3f} ms ({after.direct_ms:.3f} ms) | |",
        ]
    return lines


def close_sessions(running_gateway: Gateway, token: str, sessions: list[str]) -> None:
    """End each session (DELETE), as an agent that is done does."""
    connection = _connect(running_gateway.url)
    path = urllib.parse.urlsplit(running_gateway.url).path
    for session in sessions:
        headers = {
            "Authorization": f"Bearer {token}",
            "Mcp-Session-Id": session,
            "MCP-Protocol-Version": LEGACY,
        }
        status, _, _ = send(connection, "DELETE", path, None, headers)
        if status not in (200, 204):
            sys.exit(f"DELETE of a session: HTTP {status}")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=COUNT, help="sessions and streams held")
    parser.add_argument("--part", choices=["tools", "held"], action="append")
    options = parser.parse_args()
    parts = options.part or ["tools", "held"]
    print(f"## Scale of one process\n\nmachine: {machine()}\n")
    with tempfile.TemporaryDirectory(prefix="mcpwall-bench-scale-") as scratch_name:
        scratch = Path(scratch_name)
        if "tools" in parts:
            (scratch / "tools").mkdir()
            print("\n".join(tools_list(scratch / "tools")), end="\n\n")
        if "held" in parts:
            print("\n".join(held_open(scratch, options.count)), end="\n\n")
    one, five, fifteen = os.getloadavg()
    print(f"at the end: load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)")


if __name__ == "__main__":
    main()

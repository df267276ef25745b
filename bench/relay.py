"""What the bare relay costs, without any of the gateway's work: the floor under DESIGN §7's
0.3 ms bar for an allowed call, and the measurement behind the choice of HTTP server and
client for the data plane.

Run with ``make bench`` (or ``.venv/bin/python bench/relay.py``). One run starts the project's
fixture MCP server over Streamable HTTP on one CPU and three minimal relays on the other, each
an ASGI app that forwards the request's body and MCP headers to the fixture and returns its
answer (no authentication, no policy, no proxy log):

* ``ours``: the gateway's own HTTP server (``adapters/downstream/server.py``) and upstream
  client (``adapters/upstream/httpclient.py``), as ``mcpwall serve`` uses them;
* ``uvicorn``: uvicorn (httptools, uvloop) serving the same app, with the same client;
* ``uvicorn-aiohttp``: uvicorn with aiohttp as the upstream client (DESIGN §2's measurement).

One keep-alive client then calls the fixture's ``get_pod_logs`` directly and through each relay,
in rounds of ``CALLS`` calls, the order rotating every round, over ``ROUNDS`` rounds; each
figure is the median of per-call differences against the direct call of the same round, as in
``bench/gateway.py``. Nothing here asserts a time.

With ``serve KIND UPSTREAM PORT`` this file is one of the relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
import uvloop

from gateway import ALLOWED, FIXTURE, Client, cpus, load, machine
from mcpwall.adapters.downstream.server import HttpServer
from mcpwall.adapters.upstream.httpclient import HttpClient
from processes import LOOPBACK, free_port, ready_url, running

ROUNDS = 20
CALLS = 200
WARMUP_CALLS = 300
KINDS = ("ours", "uvicorn", "uvicorn-aiohttp")
FORWARDED = (b"content-type", b"accept", b"mcp-protocol-version", b"mcp-method", b"mcp-name")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Forward = Callable[[dict[str, str], bytes], Awaitable[tuple[int, str, bytes]]]


# ── The relays ───────────────────────────────────────────────────────────────────────────


def relay_app(forward: Forward) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app that forwards each POST with ``forward`` and answers what it got."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {n.decode(): v.decode() for n, v in scope["headers"] if n in FORWARDED}
        status, kind, answer = await forward(headers, body)
        start = [(b"content-type", kind.encode()), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": status, "headers": start})
        await send({"type": "http.response.body", "body": answer})

    return app


def our_client(upstream: str) -> Forward:
    client = HttpClient({}, connect_timeout=10)

    async def forward(headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        async with client.post(upstream, headers=headers, data=body) as response:
            answer = await response.read(1 << 24)
            return response.status, response.headers.get("content-type") or "", answer

    return forward


def aiohttp_client(upstream: str) -> Forward:
    session: list[aiohttp.ClientSession] = []

    async def forward(headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        if not session:
            session.append(aiohttp.ClientSession())
        async with session[0].post(upstream, headers=headers, data=body) as response:
            answer = await response.read()
            return response.status, response.headers.get("content-type", ""), answer

    return forward


def serve(kind: str, upstream: str, port: int) -> None:
    """Run one relay until killed, printing ``READY <url>`` once it listens."""
    forward = aiohttp_client(upstream) if kind == "uvicorn-aiohttp" else our_client(upstream)
    app = relay_app(forward)

    async def main() -> None:
        if kind == "ours":
            server = HttpServer(app)
            await server.start(LOOPBACK, port)
            print(f"READY http://{LOOPBACK}:{port}/mcp", flush=True)
            await asyncio.Event().wait()
        config = uvicorn.Config(
            app, host=LOOPBACK, port=port, loop="none", lifespan="off", log_level="warning",
            access_log=False, proxy_headers=False, http="httptools",
        )  # fmt: skip
        relay = uvicorn.Server(config)
        started = asyncio.ensure_future(relay.serve())
        while not relay.started:
            await asyncio.sleep(0.01)
        print(f"READY http://{LOOPBACK}:{port}/mcp", flush=True)
        await started

    uvloop.run(main())


# ── The measurement ──────────────────────────────────────────────────────────────────────


def measure(direct_url: str, relays: dict[str, str]) -> dict[str, list[float]]:
    """Per-call differences (ms) against the direct call of the same round, per relay."""
    tool, arguments = ALLOWED
    clients = {"direct": Client(direct_url, None)}
    clients |= {kind: Client(url, None) for kind, url in relays.items()}
    try:
        for client in clients.values():
            for i in range(WARMUP_CALLS):
                client.timed(tool, arguments, i)
        added: dict[str, list[float]] = {kind: [] for kind in relays}
        names = list(clients)
        for round_number in range(ROUNDS):
            shift = round_number % len(names)
            samples = {}
            for name in names[shift:] + names[:shift]:
                samples[name] = [clients[name].timed(tool, arguments, i) for i in range(CALLS)]
            for kind in relays:
                pairs = zip(samples["direct"], samples[kind], strict=True)
                added[kind].extend(through - direct for direct, through in pairs)
        return added
    finally:
        for client in clients.values():
            client.close()


def main() -> None:
    available = cpus()
    relay_cpu = available[0] if len(available) > 1 else None
    upstream_cpu = available[1] if len(available) > 1 else None
    print("bare relays over HTTP, no gateway work (the floor under DESIGN §7's 0.3 ms)")
    print(f"  machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="mcpwall-relay-") as scratch_name:
        scratch = Path(scratch_name)
        fixture = [sys.executable, str(FIXTURE), "http", "--port", str(free_port())]
        with running(fixture, dict(os.environ), scratch / "fixture.log", upstream_cpu) as up:
            direct_url = ready_url(up, scratch / "fixture.log")
            relays: dict[str, str] = {}
            with contextlib.ExitStack() as stack:
                for kind in KINDS:
                    port = free_port()
                    command = [sys.executable, __file__, "serve", kind, direct_url, str(port)]
                    log = scratch / f"{kind}.log"
                    relays[kind] = ready_url(
                        stack.enter_context(running(command, dict(os.environ), log, relay_cpu)), log
                    )
                added = measure(direct_url, relays)
    print(f"allowed call, one keep-alive client, {ROUNDS} rotating rounds of {CALLS} calls:")
    for kind in KINDS:
        print(f"  {kind:16s} added {statistics.median(added[kind]):.3f} ms (median)")
    print(f"  after the run: {load()}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()

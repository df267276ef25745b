"""A scripted HTTP server on 127.0.0.1, in the test's own event loop, for behaviour the SDK's
servers don't show on demand (redirects, 401s, streams that close early, odd bodies)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Reply = tuple[int, dict[str, str], bytes]
Script = Callable[[str, dict[str, str], bytes], Awaitable[Reply]]
"""``(method, headers with lower-case names, body) -> (status, headers, body)``."""


@dataclass
class Seen:
    """The requests a scripted server received, in order."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(body) for method, _, body in self.requests if method == "POST"]


@asynccontextmanager
async def scripted_server(script: Script, path: str = "/mcp") -> AsyncIterator[str]:
    """Serve ``script`` at ``http://127.0.0.1:<free port><path>``; yield that URL."""
    async with recording_server(script, path) as (url, _):
        yield url


@asynccontextmanager
async def recording_server(script: Script, path: str = "/mcp") -> AsyncIterator[tuple[str, Seen]]:
    """Like :func:`scripted_server`, also yielding what it received."""
    seen = Seen()

    async def handle(request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = await request.read()
        seen.requests.append((request.method, headers, body))
        status, reply_headers, reply = await script(request.method, headers, body)
        return web.Response(status=status, headers=reply_headers, body=reply)

    app = web.Application()
    app.router.add_route("*", path, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}{path}", seen
    finally:
        await runner.cleanup()


def sse_body(events: Sequence[tuple[str, str]], *, event_id: str | None = None) -> bytes:
    """An event-stream body: ``(event type, data)`` pairs, with an optional id on each."""
    lines = []
    for kind, data in events:
        if event_id is not None:
            lines.append(f"id: {event_id}")
        lines += [f"event: {kind}", f"data: {data}", ""]
    return ("\n".join(lines) + "\n").encode()


def rpc(request_id: object, result: object) -> str:
    """A JSON-RPC result message, as text."""
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})

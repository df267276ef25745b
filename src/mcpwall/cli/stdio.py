"""``mcpwall stdio --upstream NAME``: the gateway for desktop agents that spawn their servers.

Configure the agent to run ``mcpwall stdio --upstream k8s`` with ``MCPWALL_TOKEN`` (a grant
token) in its environment, instead of the upstream's own command. stdout carries MCP only;
mcpwall's own messages and logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from mcpwall.adapters.settings import secret_setting
from mcpwall.adapters.store.embedded import peek_upstream
from mcpwall.adapters.upstream.early import EarlyStart
from mcpwall.adapters.upstream.process import MAX_MESSAGE_BYTES, STOP_GRACE_SECONDS
from mcpwall.cli.context import DATABASE_URL_VARIABLE, home, reports_errors
from mcpwall.cli.output import fail
from mcpwall.core.errors import MCPWallError
from mcpwall.core.names import NAME_PATTERN

if TYPE_CHECKING:
    from mcpwall.adapters.store.starting import StartingStore
    from mcpwall.gateway.stdio import StdioGateway
    from mcpwall.ports.clock import Clock
    from mcpwall.ports.store import Store

log = logging.getLogger("mcpwall.stdio")

TOKEN_VARIABLE = "MCPWALL_TOKEN"  # noqa: S105 (the name of a variable, not a token)


@click.command()
@click.option("--upstream", "upstream", required=True, help="The registered upstream to serve.")
@reports_errors
def stdio(upstream: str) -> None:
    """Serve one agent over stdin/stdout, in front of UPSTREAM, with MCPWALL_TOKEN's grant."""
    setting = secret_setting(os.environ, TOKEN_VARIABLE)  # or the file MCPWALL_TOKEN_FILE names
    token = setting.value.strip() if setting else ""
    if not token:
        fail(
            f"{TOKEN_VARIABLE} is not set: put the agent's grant token there "
            f"(or in a file that {TOKEN_VARIABLE}_FILE names)"
        )
    if NAME_PATTERN.fullmatch(upstream) is None:
        fail(f'--upstream "{upstream}" is not an upstream name')
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="mcpwall: %(message)s")
    asyncio.run(_run(upstream, token))


async def _run(upstream: str, token: str) -> None:
    """Spawn the upstream first, then load and build the rest while it starts (issue 16 §3):
    nothing reaches it before the grant is checked and the agent's first request arrives."""
    with uncollected():
        early = await spawn_early(upstream, token)
    try:
        with uncollected():
            gateway, close = _gateway(upstream, token, early)
        await _serve(gateway, close)
    finally:
        if early is not None:
            await early.aclose()  # if no session took it: a refused grant, say


@contextlib.contextmanager
def uncollected() -> Iterator[None]:
    """The garbage collector paused while the start loads and builds what lives as long as
    the process (modules, classes, the data plane): collecting as they are made frees
    nothing, and costs about 5 % of the start's instructions."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def spawn_early(upstream: str, token: str) -> EarlyStart | None:
    """The upstream's process, spawned now if the embedded store says at once which command
    it is, for a grant of ``token``'s that binds it; None otherwise (a database elsewhere, an
    HTTP upstream, a first start, a token that opens nothing…)."""
    if secret_setting(os.environ, DATABASE_URL_VARIABLE) is not None:
        return None  # a database server: its driver would cost what spawning early saves
    registered = peek_upstream(upstream, token, home(), os.environ, now=datetime.now(UTC))
    if registered is None:
        return None
    return await EarlyStart.spawn(
        registered, max_line_bytes=MAX_MESSAGE_BYTES, grace=STOP_GRACE_SECONDS
    )


def _gateway(
    upstream: str, token: str, early: EarlyStart | None
) -> tuple[StdioGateway, Callable[[], Awaitable[None]]]:
    """The gateway for ``upstream``, the agent's grant checked; and what closes it. Exits
    saying why when the grant can't serve it."""
    # The store, the data plane and the gateway load here, while the upstream starts.
    from mcpwall.adapters.upstream import Connector
    from mcpwall.gateway.stdio import StdioGateway
    from mcpwall.wiring import build_data_plane

    store, clock = _store()
    # stdout carries MCP: MCPWALL_LOG_STDOUT writes the proxy log to stderr instead. No
    # metrics: nothing could read them, with no HTTP endpoint.
    data_plane = build_data_plane(
        store, home(), clock=clock, connector=Connector(early=early),
        log_console=sys.stderr.buffer, metrics=False,
    )  # fmt: skip
    principal = data_plane.grants.authenticate_sync(token)
    if principal is None:
        fail(f"{TOKEN_VARIABLE} is not an active grant token (unknown, revoked or expired)")
    if upstream not in principal.bindings:
        fail(f'this grant has no binding for upstream "{upstream}"')
    gateway = StdioGateway(
        data_plane.grants, data_plane.pipeline, data_plane.pool, upstream, token,
        listens=data_plane.gateway.listens,  # MCPWALL_LISTENS_PER_GRANT holds here too
    )  # fmt: skip
    return gateway, data_plane.aclose


def _store() -> tuple[Store, Clock]:
    """The store and the clock: the embedded store with its first reads on ``sqlite3`` where
    it can be (``adapters/store/starting.py``), else the store opened as every command opens
    it (creating, migrating, recording the key, or on a database server)."""
    from mcpwall.ports.clock import SystemClock

    if secret_setting(os.environ, DATABASE_URL_VARIABLE) is None:
        from mcpwall.adapters.store.starting import open_starting_store

        clock = SystemClock()
        starting = open_starting_store(home(), os.environ, clock=clock)
        if starting is not None:
            root = click.get_current_context().find_root()
            root.call_on_close(starting.close)
            root.meta[STARTING_STORE] = starting  # for _serve, to open it fully in time
            return starting, clock
    from mcpwall.cli.context import control

    plane = control()
    return plane.store, plane.clock


STARTING_STORE = "mcpwall.starting_store"
# Lines written to the agent before the SQL store is opened: the answers to ``initialize``
# and to the request after it (``tools/list``, for a desktop agent), its first answer.
FIRST_ANSWER_LINES = 2


async def _serve(gateway: StdioGateway, close: Callable[[], Awaitable[None]]) -> None:
    from mcpwall.adapters.store.starting import StartingStore
    from mcpwall.core.strictjson import MAX_BODY_BYTES

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_BODY_BYTES + 1)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    store = click.get_current_context().find_root().meta.get(STARTING_STORE)
    waiting = [store] if isinstance(store, StartingStore) and not store.opened else []
    written = 0

    async def write(data: bytes) -> None:
        nonlocal written
        out.write(data)
        out.flush()
        written += 1
        if waiting and written >= FIRST_ANSWER_LINES:
            loop.call_soon(open_full, waiting.pop())

    try:
        await gateway.serve(reader, write)
    finally:
        await close()


def open_full(store: StartingStore) -> None:
    """Open the SQL store behind ``store`` now that the agent has its first answer (in the
    event loop: the agent's next request waits, as every request waited before the first
    answer did). One that fails is said here, and again by whatever needs it."""
    try:
        with uncollected():
            store.full()
    except MCPWallError as error:
        log.warning("the store could not be opened: %s", error)

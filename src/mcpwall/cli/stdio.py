"""``mcpwall stdio --upstream NAME``: the gateway for desktop agents that spawn their servers.

Configure the agent to run ``mcpwall stdio --upstream k8s`` with ``MCPWALL_TOKEN`` (a grant
token) in its environment, instead of the upstream's own command. stdout carries MCP only;
mcpwall's own messages and logs go to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable

import click

from mcpwall.adapters.settings import secret_setting
from mcpwall.cli.context import control, home, reports_errors
from mcpwall.cli.output import fail
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.strictjson import MAX_BODY_BYTES
from mcpwall.gateway.stdio import StdioGateway
from mcpwall.wiring import build_data_plane

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
    plane = control()
    # stdout carries MCP: MCPWALL_LOG_STDOUT writes the proxy log to stderr instead.
    data_plane = build_data_plane(
        plane.store, home(), clock=plane.clock, log_console=sys.stderr.buffer
    )
    principal = data_plane.grants.authenticate_sync(token)
    if principal is None:
        fail(f"{TOKEN_VARIABLE} is not an active grant token (unknown, revoked or expired)")
    if upstream not in principal.bindings:
        fail(f'this grant has no binding for upstream "{upstream}"')
    gateway = StdioGateway(
        data_plane.grants, data_plane.pipeline, data_plane.pool, upstream, token,
        listens=data_plane.gateway.listens,  # MCPWALL_LISTENS_PER_GRANT holds here too
    )  # fmt: skip
    asyncio.run(_serve(gateway, data_plane.aclose))


async def _serve(gateway: StdioGateway, close: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_BODY_BYTES + 1)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    async def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    try:
        await gateway.serve(reader, write)
    finally:
        await close()

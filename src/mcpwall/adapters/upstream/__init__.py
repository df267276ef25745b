"""Upstream clients: the gateway's sessions with the MCP servers behind it (DESIGN §2, layer 3).

:class:`Connector` opens a session by the upstream's kind — a spawned process over stdio,
Streamable HTTP (both protocol eras), or the legacy HTTP+SSE transport — negotiating its era
on the way. Every session speaks the port :class:`mcpwall.ports.upstream.UpstreamSession`,
and also says when it is over (``closed``, ``close_reason``, ``wait_closed()``), so the one
that pools sessions can open a new one.

Modules, one concept each: ``connector`` (picking a transport), ``channel`` (a session over
one message stream each way: stdio and legacy SSE), ``routing`` (relating what arrives to
requests in flight), ``stdio`` and ``process`` (the spawned process), ``streamable_http``,
``http_sse`` and ``httpio`` (HTTP, on our own client: ``httpclient`` and ``http11``), ``sse``
(the event-stream decoder), ``handshake`` (era negotiation), ``outgoing`` (params as one
session sends them), ``messages`` (reading what arrives), ``environment`` (what a process
inherits).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcpwall.adapters.upstream.channel import ChannelSession, Mode
    from mcpwall.adapters.upstream.connector import Connector
    from mcpwall.adapters.upstream.environment import child_environment
    from mcpwall.adapters.upstream.http_sse import connect_sse
    from mcpwall.adapters.upstream.stdio import connect_stdio
    from mcpwall.adapters.upstream.streamable_http import (
        StreamableHttpSession,
        connect_streamable_http,
    )

# Name → its module. Loaded on first use: ``mcpwall stdio`` spawns its upstream through
# ``process`` (and ``early``) before it needs any transport (issue 16 §3).
_LAZY = {
    "ChannelSession": "channel",
    "Mode": "channel",
    "Connector": "connector",
    "child_environment": "environment",
    "connect_sse": "http_sse",
    "connect_stdio": "stdio",
    "StreamableHttpSession": "streamable_http",
    "connect_streamable_http": "streamable_http",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "ChannelSession",
    "Connector",
    "Mode",
    "StreamableHttpSession",
    "child_environment",
    "connect_sse",
    "connect_stdio",
    "connect_streamable_http",
]

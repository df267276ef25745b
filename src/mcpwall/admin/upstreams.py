"""``/api/upstreams``: the MCP servers the gateway fronts.

A body names a stdio server (``command``, ``args``, ``env``, ``cwd``) or a remote one (``url``,
``headers``; ``kind`` ``http`` or ``sse``). Env and header values are secrets: they go to the
store, which encrypts them, and never come back (:func:`upstream_view` masks them).
"""

from __future__ import annotations

from mcpwall.admin.body import Fields
from mcpwall.admin.endpoint import Call, Reply
from mcpwall.control import upstreams
from mcpwall.control.views import upstream_view
from mcpwall.core.registry import Upstream, UpstreamKind

KINDS = tuple(kind.value for kind in UpstreamKind)


def list_upstreams(call: Call) -> Reply:
    return Reply({"upstreams": [upstream_view(u) for u in upstreams.list_upstreams(call.control)]})


def get_upstream(call: Call) -> Reply:
    return Reply(upstream_view(upstreams.get_upstream(call.control, call.params["name"])))


def add_upstream(call: Call) -> Reply:
    """Register an upstream; 409 if the name is taken."""
    upstream = read_upstream(Fields.parse(call.body))
    added = upstreams.add_upstream(call.control, upstream, actor=call.actor)
    return Reply(upstream_view(added), 201)


def remove_upstream(call: Call) -> Reply:
    """Remove an upstream; 409 naming the active grants bound to it, if any."""
    upstreams.remove_upstream(call.control, call.params["name"], actor=call.actor)
    return Reply(status=204)


def read_upstream(fields: Fields) -> Upstream:
    """The upstream a request body describes; ``kind`` defaults to stdio with a command."""
    name = fields.text("name")
    kind = fields.choice("kind", KINDS)
    command = fields.optional_text("command")
    args = fields.texts("args")
    env = fields.text_map("env", secret=True)
    cwd = fields.optional_text("cwd")
    url = fields.optional_text("url")
    headers = fields.text_map("headers", secret=True)
    fields.close()
    kind = kind or (UpstreamKind.STDIO if command is not None else UpstreamKind.HTTP)
    # The value checks which fields go with which kind, and names the one that doesn't.
    return Upstream(name, UpstreamKind(kind), command, args, env, cwd, url, headers)

"""``/api/upstreams``: the MCP servers the gateway fronts.

A body names a stdio server (``command``, ``args``, ``env``, ``cwd``) or a remote one (``url``,
``headers``; ``kind`` ``http`` or ``sse``). Env and header values are secrets: they go to the
store, which encrypts them, and never come back (:func:`upstream_view` masks them).
"""

from __future__ import annotations

from mcpwall.admin.body import Fields
from mcpwall.admin.endpoint import Call, Reply, Run
from mcpwall.control import pinning, upstreams
from mcpwall.control.views import upstream_view
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.registry import Pinning, Upstream, UpstreamKind
from mcpwall.gateway.probe import Definitions, Prober

KINDS = tuple(kind.value for kind in UpstreamKind)
PINNING_MODES = tuple(mode.value for mode in Pinning)


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
    mode = fields.choice("pinning", PINNING_MODES) or Pinning.ENFORCE.value
    fields.close()
    kind = kind or (UpstreamKind.STDIO if command is not None else UpstreamKind.HTTP)
    # The value checks which fields go with which kind, and names the one that doesn't.
    return Upstream(name, UpstreamKind(kind), command, args, env, cwd, url, headers, Pinning(mode))


# -- pins: review and accept (docs/pinning.md) ------------------------------------------------


def _live(prober: Prober, upstream: Upstream) -> Definitions:
    """The upstream's definitions as it sends them now (a new check each time: what is
    reviewed or accepted must be what it sends now; checks are bounded by the prober)."""
    found = prober.check_now(upstream)
    if found.definitions is None:
        raise UpstreamUnavailable(upstream.name, found.error)
    return found.definitions


def review_tools(prober: Prober) -> Run:
    def run(call: Call) -> Reply:
        upstream = upstreams.get_upstream(call.control, call.params["name"])
        found = pinning.review(call.control, upstream, _live(prober, upstream))
        return Reply(pinning.review_view(found))

    return run


def tool_diff(prober: Prober) -> Run:
    def run(call: Call) -> Reply:
        upstream = upstreams.get_upstream(call.control, call.params["name"])
        live = _live(prober, upstream)
        found = pinning.tool_diff(call.control, upstream, live, call.params["tool"])
        return Reply(pinning.diff_view(found))

    return run


def accept_tools(prober: Prober) -> Run:
    """Pin the live definitions of the tools named, or of all that differ (admin)."""

    def run(call: Call) -> Reply:
        fields = Fields.parse(call.body)
        tools = fields.texts("tools")
        every = fields.flag("all")
        instructions = fields.flag("instructions")
        expect = fields.optional_text("expect")
        fields.close()
        upstream = upstreams.get_upstream(call.control, call.params["name"])
        done = pinning.accept(
            call.control,
            upstream,
            _live(prober, upstream),
            tools=tools,
            every=every,
            instructions=instructions,
            expect=expect,
            actor=call.actor,
        )
        return Reply(pinning.accepted_view(done))

    return run

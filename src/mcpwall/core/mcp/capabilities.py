"""What the gateway advertises to an agent, and what it declares to an upstream for one.

Downstream, a capability is advertised only when the gateway really delivers it to that
agent: a ``listChanged`` flag only where it can send the notification, resource
subscriptions only where it relays them. Upstream, the gateway declares only the client
capabilities it can relay for that agent: declared capabilities change what a server offers
(server-everything lists ``get-roots-list`` only to clients with ``roots``), and a request the
agent can't be asked would fail mid-call (research/mcp-protocol.md §1.3, §1.16).

Tasks are never advertised either way: a ``tasks/get`` or ``tasks/result`` carries the result
of an already-approved call, so the extension would be a way around the policy (§1.17).
Experimental capabilities and extensions are relayed only where their meaning is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from mcpwall.core.mcp.versions import Era

TASKS_EXTENSION: Final = "io.modelcontextprotocol/tasks"


@dataclass(frozen=True, slots=True)
class Relays:
    """What the gateway can deliver to one agent.

    ``list_changed``: it can send that agent ``notifications/*/list_changed`` (a legacy
    session with a stream, stdio, or a modern ``subscriptions/listen``). ``resource_updates``:
    it relays ``resources/subscribe`` and ``notifications/resources/updated``. ``extensions``:
    identifiers of extensions it relays as they are (never the tasks extension).
    """

    list_changed: bool = False
    resource_updates: bool = False
    extensions: frozenset[str] = frozenset()


def server_capabilities(
    upstreams: Sequence[Mapping[str, object]], relays: Relays
) -> dict[str, object]:
    """The capabilities to advertise for an endpoint serving ``upstreams`` (theirs, in order).

    A feature is there when any upstream has it; its notification flags only when some
    upstream sends them *and* the gateway can deliver them. ``tools.listChanged`` needs only
    the second: the gateway notifies a policy change itself.
    """
    merged: dict[str, object] = {}
    if _offered(upstreams, "tools"):
        merged["tools"] = _flags(listChanged=relays.list_changed)
    if _offered(upstreams, "prompts"):
        merged["prompts"] = _flags(
            listChanged=relays.list_changed and _flag(upstreams, "prompts", "listChanged")
        )
    if _offered(upstreams, "resources"):
        merged["resources"] = _flags(
            subscribe=relays.resource_updates and _flag(upstreams, "resources", "subscribe"),
            listChanged=relays.list_changed and _flag(upstreams, "resources", "listChanged"),
        )
    for plain in ("logging", "completions"):
        if _offered(upstreams, plain):
            merged[plain] = {}
    # Experimental methods are relayed to the one upstream of a single-upstream endpoint;
    # on the aggregate endpoint there is no telling which upstream one is meant for.
    if len(upstreams) == 1 and isinstance(upstreams[0].get("experimental"), dict):
        merged["experimental"] = upstreams[0]["experimental"]
    extensions = _extensions(upstreams, relays.extensions)
    if extensions:
        merged["extensions"] = extensions
    return merged


def _offered(upstreams: Iterable[Mapping[str, object]], feature: str) -> bool:
    return any(isinstance(caps.get(feature), dict) for caps in upstreams)


def _flag(upstreams: Iterable[Mapping[str, object]], feature: str, flag: str) -> bool:
    for caps in upstreams:
        settings = caps.get(feature)
        if isinstance(settings, dict) and settings.get(flag) is True:
            return True
    return False


def _flags(**flags: bool) -> dict[str, object]:
    return {name: True for name, on in flags.items() if on}


def _extensions(
    upstreams: Iterable[Mapping[str, object]], relayed: frozenset[str]
) -> dict[str, object]:
    found: dict[str, object] = {}
    for caps in upstreams:
        extensions = caps.get("extensions")
        if isinstance(extensions, dict):
            for name, settings in extensions.items():
                if name in relayed and name != TASKS_EXTENSION:
                    found.setdefault(name, settings)
    return found


# Client capabilities the gateway can relay, with the settings keys it passes on.
_RELAYABLE: Final[Mapping[str, tuple[str, ...]]] = {
    "roots": ("listChanged",),
    "sampling": ("context", "tools"),
    "elicitation": ("form", "url"),
}


def upstream_client_capabilities(
    agent: Mapping[str, object], *, agent_era: Era, upstream_era: Era
) -> dict[str, object]:
    """The client capabilities to declare to an upstream on behalf of one agent.

    Only roots, sampling and elicitation, as the agent declared them, and only when both legs
    are of one era: a legacy upstream's requests (sampling, elicitation, roots) can't reach a
    modern agent, and a modern upstream's ``input_required`` results mean nothing to a legacy
    one. Tasks, experimental capabilities and extensions are never declared.
    """
    if agent_era != upstream_era:
        return {}
    declared: dict[str, object] = {}
    for capability, keys in _RELAYABLE.items():
        settings = agent.get(capability)
        if isinstance(settings, dict):
            declared[capability] = {key: settings[key] for key in keys if key in settings}
    roots = declared.get("roots")
    if isinstance(roots, dict) and upstream_era == "modern":
        roots.pop("listChanged", None)  # 2026-07-28 removed roots/list_changed
    return declared

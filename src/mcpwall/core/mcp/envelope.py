"""The 2026-07-28 per-request envelope: ``params._meta`` in, ``resultType`` and caching out.

A modern request carries its protocol version and client capabilities in
``params._meta`` (both required: -32602 without them; an unsupported version is -32022 with
the supported list). Every modern result carries ``resultType``, and list/read/discover results
carry caching hints, which a legacy upstream does not send, so the gateway adds them
(research/mcp-protocol.md §1.2, §1.4, §1.15).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from mcpwall.core.errors import InvalidParams, UnsupportedProtocolVersion
from mcpwall.core.jsonrpc import describe
from mcpwall.core.mcp.versions import MODERN_VERSIONS

PROTOCOL_VERSION_KEY: Final = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_KEY: Final = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_KEY: Final = "io.modelcontextprotocol/clientInfo"
LOG_LEVEL_KEY: Final = "io.modelcontextprotocol/logLevel"
SERVER_INFO_KEY: Final = "io.modelcontextprotocol/serverInfo"

CacheScope = Literal["public", "private"]

# Results that MUST carry ttlMs and cacheScope (2026-07-28 server/utilities/caching).
CACHEABLE_METHODS: Final = frozenset(
    {
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    }
)

_REQUIRED = f'"{PROTOCOL_VERSION_KEY}" and "{CLIENT_CAPABILITIES_KEY}"'


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a modern request says about its client. ``client_info`` is None when not sent.

    Neither info field may be used for a security decision (2026-07-28 basic/index).
    """

    protocol_version: str
    client_capabilities: dict[str, object]
    client_info: object = None


def is_modern(params: Mapping[str, object] | None) -> bool:
    """Whether a request carries the modern envelope, which selects stateless serving."""
    if params is None:
        return False
    meta = params.get("_meta")
    return isinstance(meta, dict) and PROTOCOL_VERSION_KEY in meta


def read_envelope(params: Mapping[str, object] | None) -> Envelope:
    """The envelope of a modern request; :class:`InvalidParams` when it is missing or malformed.

    The version is only read here; :func:`check_version` decides whether it is served, after
    the HTTP layer has compared it with the ``MCP-Protocol-Version`` header.
    """
    meta = None if params is None else params.get("_meta")
    if not isinstance(meta, dict):
        found = "nothing" if params is None or "_meta" not in params else describe(meta)
        raise InvalidParams(
            f'"params._meta": expected an object with {_REQUIRED} '
            f"(required on every {MODERN_VERSIONS[-1]} request), found {found}"
        )
    missing = [key for key in (PROTOCOL_VERSION_KEY, CLIENT_CAPABILITIES_KEY) if key not in meta]
    if missing:
        raise InvalidParams(
            f'"params._meta" is missing "{missing[0]}" '
            f"(required on every {MODERN_VERSIONS[-1]} request)"
        )
    version, capabilities = meta[PROTOCOL_VERSION_KEY], meta[CLIENT_CAPABILITIES_KEY]
    if not isinstance(version, str):
        raise InvalidParams(
            f'"params._meta.{PROTOCOL_VERSION_KEY}": expected a string, found {describe(version)}'
        )
    if not isinstance(capabilities, dict):
        raise InvalidParams(
            f'"params._meta.{CLIENT_CAPABILITIES_KEY}": expected an object, '
            f"found {describe(capabilities)}"
        )
    return Envelope(version, capabilities, meta.get(CLIENT_INFO_KEY))


def check_version(version: str, supported: tuple[str, ...] = MODERN_VERSIONS) -> None:
    """Refuse, with -32022 naming ``supported``, a version not served statelessly."""
    if version not in supported:
        raise UnsupportedProtocolVersion(version, supported)


def stamp_result(result: object, server_info: Mapping[str, object] | None = None) -> object:
    """A result as a modern client must get it: ``resultType`` (``"complete"`` unless the
    upstream set one, such as ``"input_required"``) and, if given, our ``serverInfo``.

    Returns a new object; anything but an object is returned unchanged.
    """
    if not isinstance(result, dict):
        return result
    stamped = dict(result)
    stamped.setdefault("resultType", "complete")
    if server_info is not None:
        meta = stamped.get("_meta")
        known = meta if isinstance(meta, dict) else {}
        stamped["_meta"] = {**known, SERVER_INFO_KEY: server_info}
    return stamped


def stamp_cacheable(result: object, ttl_ms: int, scope: CacheScope = "private") -> object:
    """A cacheable result with caching hints no looser than the upstream's nor ours.

    ``ttlMs`` becomes the smaller of the upstream's (when a valid one) and ``ttl_ms``;
    ``cacheScope`` is ``"public"`` only when both ``scope`` and the upstream say so (a legacy
    upstream says nothing): a list filtered per grant must never reach another grant through
    a shared cache. ``input_required`` results carry
    no hints and are returned unchanged, as is anything but an object.
    """
    if not isinstance(result, dict) or result.get("resultType", "complete") != "complete":
        return result
    upstream_ttl = result.get("ttlMs")
    if type(upstream_ttl) is int and upstream_ttl >= 0:
        ttl_ms = min(ttl_ms, upstream_ttl)
    private = scope == "private" or result.get("cacheScope") != "public"
    return {**result, "ttlMs": ttl_ms, "cacheScope": "private" if private else "public"}

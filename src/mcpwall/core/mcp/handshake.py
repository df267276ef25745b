"""Answering ``initialize`` (legacy) and ``server/discover`` (2026-07-28) as the gateway.

The gateway is the server the agent negotiates with; each upstream is negotiated separately,
so the two legs can run different versions (research/mcp-protocol.md §1.3, §1.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mcpwall.core.errors import InvalidParams
from mcpwall.core.jsonrpc import describe
from mcpwall.core.mcp.envelope import SERVER_INFO_KEY
from mcpwall.core.mcp.versions import MODERN_VERSIONS, negotiate_legacy


@dataclass(frozen=True, slots=True)
class Initialize:
    """What a legacy client says in ``initialize``: its version, capabilities and identity."""

    protocol_version: str
    capabilities: dict[str, object]
    client_info: object = None


def parse_initialize(params: Mapping[str, object] | None) -> Initialize:
    """Read ``initialize`` params; :class:`InvalidParams` when the required ones are wrong."""
    if params is None:
        raise InvalidParams('initialize needs "params" with "protocolVersion" and "capabilities"')
    version, capabilities = params.get("protocolVersion"), params.get("capabilities")
    if not isinstance(version, str):
        found = describe(version) if "protocolVersion" in params else "nothing"
        raise InvalidParams(f'"params.protocolVersion": expected a string, found {found}')
    if not isinstance(capabilities, dict):
        found = describe(capabilities) if "capabilities" in params else "nothing"
        raise InvalidParams(f'"params.capabilities": expected an object, found {found}')
    return Initialize(version, capabilities, params.get("clientInfo"))


def initialize_result(
    request: Initialize,
    capabilities: Mapping[str, object],
    server_info: Mapping[str, object],
    instructions: str | None = None,
) -> dict[str, object]:
    """The ``InitializeResult``: the client's version if we speak it, else our latest legacy."""
    result: dict[str, object] = {
        "protocolVersion": negotiate_legacy(request.protocol_version),
        "capabilities": dict(capabilities),
        "serverInfo": dict(server_info),
    }
    if instructions:
        result["instructions"] = instructions
    return result


def discover_result(
    capabilities: Mapping[str, object],
    server_info: Mapping[str, object],
    *,
    ttl_ms: int,
    instructions: str | None = None,
) -> dict[str, object]:
    """The ``DiscoverResult``. It is per grant (capabilities follow its upstreams), so private."""
    result: dict[str, object] = {
        "resultType": "complete",
        "supportedVersions": list(MODERN_VERSIONS),
        "capabilities": dict(capabilities),
        "_meta": {SERVER_INFO_KEY: dict(server_info)},
        "ttlMs": ttl_ms,
        "cacheScope": "private",
    }
    if instructions:
        result["instructions"] = instructions
    return result

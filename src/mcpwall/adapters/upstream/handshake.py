"""Opening a session: what is sent to learn an upstream's era, and what its answers mean.

Per upstream, as research/mcp-protocol.md §1.4 says: probe with ``server/discover`` carrying
the 2026-07-28 envelope; a ``DiscoverResult`` that lists a modern version we speak means the
modern era (stateless, no handshake); anything else — an error of any code, a timeout, an
HTTP 400 — means falling back to the legacy ``initialize`` handshake. Most servers still
answer the probe with an error (every server on the TypeScript SDK 1.x, for one).
"""

from __future__ import annotations

from collections.abc import Mapping

from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.jsonrpc import describe
from mcpwall.core.mcp import LATEST_LEGACY, LEGACY_VERSIONS, MODERN_VERSIONS, SERVER_INFO_KEY
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated

DISCOVER = "server/discover"
INITIALIZE = "initialize"
INITIALIZED = "notifications/initialized"


def initialize_params(offer: ClientOffer) -> dict[str, object]:
    """The ``initialize`` params: our latest legacy version, the capabilities offered for a
    legacy session."""
    return {
        "protocolVersion": LATEST_LEGACY,
        "capabilities": dict(offer.legacy_capabilities),
        "clientInfo": dict(offer.client_info),
    }


def from_initialize(upstream: str, response: Message) -> Negotiated:
    """What an ``initialize`` answer settles; :class:`UpstreamUnavailable` if it settles nothing."""
    result = _result(upstream, INITIALIZE, response)
    version = result.get("protocolVersion")
    if not isinstance(version, str) or version not in LEGACY_VERSIONS:
        raise UpstreamUnavailable(
            upstream,
            f"it answered initialize with protocol version {describe(version)} "
            f"(expected one of {', '.join(LEGACY_VERSIONS)})",
        )
    return Negotiated(
        protocol_version=version,
        era="legacy",
        capabilities=_object(result.get("capabilities")),
        server_info=_object(result.get("serverInfo")),
        instructions=_text(result.get("instructions")),
    )


def from_discover(response: Message) -> Negotiated | None:
    """The modern session a ``server/discover`` answer offers, or None: fall back to legacy."""
    result = response.get("result")
    if not isinstance(result, dict):
        return None
    supported = result.get("supportedVersions")
    if not isinstance(supported, list):
        return None
    shared = [version for version in MODERN_VERSIONS if version in supported]
    if not shared:
        return None
    meta = _object(result.get("_meta"))
    return Negotiated(
        protocol_version=shared[-1],
        era="modern",
        capabilities=_object(result.get("capabilities")),
        server_info=_object(meta.get(SERVER_INFO_KEY)),
        instructions=_text(result.get("instructions")),
    )


def modern_offer_version() -> str:
    """The protocol version a ``server/discover`` probe is sent with."""
    return MODERN_VERSIONS[-1]


def _result(upstream: str, method: str, response: Message) -> Mapping[str, object]:
    error = response.get("error")
    if isinstance(error, dict):
        raise UpstreamUnavailable(
            upstream,
            f"it refused {method}: {describe(error.get('message'))} (code {error.get('code')})",
        )
    result = response.get("result")
    if not isinstance(result, dict):
        raise UpstreamUnavailable(
            upstream, f"it answered {method} with {describe(result)} (expected an object)"
        )
    return result


def _object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None

"""MCP protocol versions, their two eras, and what each era allows.

Legacy versions (2024-11-05 … 2025-11-25) open with an ``initialize`` handshake and keep a
session; the modern one (2026-07-28) is stateless, carrying its version and capabilities in
every request's ``_meta``. The gateway speaks both downstream and negotiates each upstream on
its own (research/mcp-protocol.md §1.1, §1.3, §1.4).
"""

from __future__ import annotations

from typing import Final, Literal

from mcpwall.core.errors import MethodNotFound

Era = Literal["legacy", "modern"]

LEGACY_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS: Final = ("2026-07-28",)
SUPPORTED_VERSIONS: Final = LEGACY_VERSIONS + MODERN_VERSIONS
LATEST_LEGACY: Final = "2025-11-25"

# The only version with JSON-RPC batches (added in it, removed in 2025-06-18).
BATCH_VERSION: Final = "2025-03-26"

# What a server assumes when a legacy HTTP request has no MCP-Protocol-Version header
# (2025-11-25 basic/transports §Protocol Version Header).
VERSION_WITHOUT_HEADER: Final = "2025-03-26"

# Methods 2026-07-28 removed; a modern request for one gets -32601 (HTTP 404), not a relay.
REMOVED_IN_MODERN: Final = frozenset(
    {
        "initialize",
        "notifications/initialized",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "notifications/roots/list_changed",
        "notifications/elicitation/complete",
    }
)


def era_of(version: str) -> Era | None:
    """The era of a protocol version; None for a version the gateway does not know."""
    if version in MODERN_VERSIONS:
        return "modern"
    if version in LEGACY_VERSIONS:
        return "legacy"
    return None


def allows_batches(version: str) -> bool:
    """Whether a session on ``version`` may send JSON-RPC batches (only 2025-03-26)."""
    return version == BATCH_VERSION


def negotiate_legacy(requested: object) -> str:
    """The version to answer an ``initialize`` with: the client's if we speak it, else ours.

    A legacy server answers with the requested version when it supports it, and otherwise
    with the latest it supports; the client then decides whether to go on
    (2025-11-25 basic/lifecycle §Version Negotiation).
    """
    if isinstance(requested, str) and requested in LEGACY_VERSIONS:
        return requested
    return LATEST_LEGACY


def check_modern_method(method: str) -> None:
    """Refuse, with -32601, a method the modern era removed (``ping``, ``initialize``…)."""
    if method in REMOVED_IN_MODERN:
        raise MethodNotFound(
            f"Method not found: {method} (removed in protocol version {MODERN_VERSIONS[-1]})"
        )

"""What the answers to ``server/discover`` and ``initialize`` settle."""

from __future__ import annotations

import pytest

from mcpwall.adapters.upstream.handshake import from_discover, from_initialize, initialize_params
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.ports.upstream import ClientOffer, Negotiated

DISCOVERED = {
    "supportedVersions": ["2026-07-28", "2027-01-01"],
    "capabilities": {"tools": {}},
    "instructions": "be nice",
    "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "s", "version": "2"}},
}


def test_initialize_offers_our_latest_legacy_version_and_the_offer() -> None:
    offer = ClientOffer(
        capabilities={"sampling": {}},
        client_info={"name": "gw", "version": "1"},
        legacy_capabilities={"roots": {}},
    )
    assert initialize_params(offer) == {
        "protocolVersion": "2025-11-25",
        "capabilities": {"roots": {}},
        "clientInfo": {"name": "gw", "version": "1"},
    }


def test_a_discover_result_settles_the_modern_era() -> None:
    assert from_discover({"result": DISCOVERED}) == Negotiated(
        "2026-07-28", "modern", {"tools": {}}, {"name": "s", "version": "2"}, "be nice"
    )


@pytest.mark.parametrize(
    "response",
    [
        {"error": {"code": -32601, "message": "Method not found"}},
        {"error": {"code": -32000, "message": "Bad Request: No valid session ID provided"}},
        {"result": {}},
        {"result": {"supportedVersions": ["2027-01-01"]}},
        {"result": {"supportedVersions": "2026-07-28"}},
        {"result": []},
    ],
)
def test_anything_else_falls_back_to_legacy(response: dict[str, object]) -> None:
    assert from_discover(response) is None


def test_an_initialize_result_settles_the_legacy_era() -> None:
    result = {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {"listChanged": True}},
        "serverInfo": {"name": "k", "version": "4"},
    }
    negotiated = from_initialize("k8s", {"result": result})
    assert negotiated == Negotiated(
        "2025-06-18", "legacy", {"tools": {"listChanged": True}}, {"name": "k", "version": "4"}
    )


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"result": {"protocolVersion": "1999-01-01"}}, 'protocol version string "1999-01-01"'),
        ({"result": {}}, "protocol version nothing|protocol version null"),
        ({"error": {"code": -32600, "message": "no"}}, 'it refused initialize: string "no"'),
        ({"result": "yes"}, "expected an object"),
    ],
)
def test_an_initialize_answer_that_settles_nothing_is_unavailable(
    response: dict[str, object], reason: str
) -> None:
    with pytest.raises(UpstreamUnavailable, match=reason):
        from_initialize("k8s", response)

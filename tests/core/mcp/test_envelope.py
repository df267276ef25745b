"""The 2026-07-28 per-request envelope and result stamping."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import InvalidParams, ProtocolError, UnsupportedProtocolVersion
from mcpwall.core.mcp import (
    CLIENT_CAPABILITIES_KEY as CAPS,
    PROTOCOL_VERSION_KEY as VERSION,
    SERVER_INFO_KEY,
    Envelope,
    check_version,
    is_modern,
    read_envelope,
    stamp_cacheable,
    stamp_result,
)

GOOD: dict[str, object] = {
    "_meta": {
        VERSION: "2026-07-28",
        CAPS: {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "c"},
    }
}


def test_reads_a_good_envelope() -> None:
    assert read_envelope(GOOD) == Envelope("2026-07-28", {"elicitation": {}}, {"name": "c"})
    assert read_envelope({"_meta": {VERSION: "x", CAPS: {}}}).client_info is None
    assert is_modern(GOOD)
    assert not is_modern(None)
    assert not is_modern({})
    assert not is_modern({"_meta": {CAPS: {}}})
    assert not is_modern({"_meta": "x"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            None,
            '"params._meta": expected an object with "io.modelcontextprotocol/protocolVersion" and "io.modelcontextprotocol/clientCapabilities" (required on every 2026-07-28 request), found nothing',
        ),
        ({}, "found nothing"),
        ({"_meta": []}, "found array []"),
        ({"_meta": {CAPS: {}}}, f'"params._meta" is missing "{VERSION}"'),
        ({"_meta": {VERSION: "2026-07-28"}}, f'"params._meta" is missing "{CAPS}"'),
        (
            {"_meta": {VERSION: 20260728, CAPS: {}}},
            f'"params._meta.{VERSION}": expected a string, found number 20260728',
        ),
        (
            {"_meta": {VERSION: "2026-07-28", CAPS: None}},
            f'"params._meta.{CAPS}": expected an object, found null',
        ),
    ],
)
def test_malformed_envelopes_are_invalid_params(
    params: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(InvalidParams) as refused:
        read_envelope(params)
    assert refused.value.code == -32602
    assert message in refused.value.message


def test_unsupported_version() -> None:
    check_version("2026-07-28")
    with pytest.raises(UnsupportedProtocolVersion) as refused:
        check_version("2025-11-25")
    error: ProtocolError = refused.value
    assert error.code == -32022
    assert error.data == {"supported": ["2026-07-28"], "requested": "2025-11-25"}


def test_result_stamping() -> None:
    legacy: dict[str, object] = {"tools": []}
    assert stamp_result(legacy) == {"tools": [], "resultType": "complete"}
    assert legacy == {"tools": []}  # not modified
    asking = {"resultType": "input_required", "inputRequests": {}}
    assert stamp_result(asking) == asking
    info = {"name": "mcpwall", "version": "0.1.0"}
    stamped = stamp_result({"_meta": {"k": 1}}, info)
    assert stamped == {"_meta": {"k": 1, SERVER_INFO_KEY: info}, "resultType": "complete"}
    assert stamp_result([1]) == [1]


def test_caching_hints_only_narrow() -> None:
    assert stamp_cacheable({"tools": []}, 5000) == {
        "tools": [],
        "ttlMs": 5000,
        "cacheScope": "private",
    }
    public = {"tools": [], "ttlMs": 1000, "cacheScope": "public"}
    assert stamp_cacheable(public, 5000, "public") == public
    assert stamp_cacheable(public, 500, "private") == {
        **public,
        "ttlMs": 500,
        "cacheScope": "private",
    }
    assert stamp_cacheable({"ttlMs": -1}, 10, "public") == {"ttlMs": 10, "cacheScope": "private"}
    assert stamp_cacheable({"ttlMs": True}, 10) == {"ttlMs": 10, "cacheScope": "private"}
    asking = {"resultType": "input_required"}
    assert stamp_cacheable(asking, 10) == asking

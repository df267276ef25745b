"""Answering initialize and server/discover."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import InvalidParams
from mcpwall.core.mcp import (
    SERVER_INFO_KEY,
    Initialize,
    discover_result,
    initialize_result,
    parse_initialize,
)

INFO = {"name": "mcpwall", "version": "0.1.0"}


def test_initialize() -> None:
    request = parse_initialize(
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c"}}
    )
    assert request == Initialize("2025-06-18", {}, {"name": "c"})
    assert initialize_result(request, {"tools": {}}, INFO) == {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {}},
        "serverInfo": INFO,
    }
    newer = Initialize("2099-01-01", {})
    assert initialize_result(newer, {}, INFO, "Be careful.")["protocolVersion"] == "2025-11-25"
    assert initialize_result(newer, {}, INFO, "Be careful.")["instructions"] == "Be careful."


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (None, 'initialize needs "params"'),
        ({"capabilities": {}}, '"params.protocolVersion": expected a string, found nothing'),
        ({"protocolVersion": 1, "capabilities": {}}, "found number 1"),
        (
            {"protocolVersion": "2025-11-25"},
            '"params.capabilities": expected an object, found nothing',
        ),
        ({"protocolVersion": "2025-11-25", "capabilities": []}, "found array []"),
    ],
)
def test_bad_initialize(params: dict[str, object] | None, message: str) -> None:
    with pytest.raises(InvalidParams, match=None) as refused:
        parse_initialize(params)
    assert message in refused.value.message


def test_discover() -> None:
    assert discover_result({"tools": {}}, INFO, ttl_ms=0) == {
        "resultType": "complete",
        "supportedVersions": ["2026-07-28"],
        "capabilities": {"tools": {}},
        "_meta": {SERVER_INFO_KEY: INFO},
        "ttlMs": 0,
        "cacheScope": "private",
    }
    assert discover_result({}, INFO, ttl_ms=5, instructions="x")["instructions"] == "x"

"""HTTP statuses for refusals on each era's wire."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import (
    BodyTooLarge,
    GatewayOverCapacity,
    GrantOverCapacity,
    HeaderMismatch,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    ProtocolError,
    UnknownTool,
    UnsupportedProtocolVersion,
)
from mcpwall.core.mcp import http_status, retry_after


@pytest.mark.parametrize(
    ("refused", "modern", "legacy"),
    [
        (BodyTooLarge(10, 5), 413, 413),
        (ParseError("x"), 400, 400),
        (InvalidRequest("x"), 400, 400),
        (InvalidParams("x"), 400, 200),
        (UnknownTool("x"), 400, 200),
        (HeaderMismatch("x"), 400, 200),
        (UnsupportedProtocolVersion("x", ("2026-07-28",)), 400, 200),
        (MethodNotFound("x"), 404, 200),
        (ProtocolError("x"), 200, 200),
        (GrantOverCapacity("x", cap="C", limit=1, retry_after_s=1), 429, 429),
        (GatewayOverCapacity("x", cap="C", limit=1, retry_after_s=1), 503, 503),
    ],
)
def test_statuses(refused: ProtocolError, modern: int, legacy: int) -> None:
    assert http_status(refused, modern=True) == modern
    assert http_status(refused, modern=False) == legacy


def test_a_refusal_for_capacity_says_when_to_retry_in_whole_seconds() -> None:
    refused = GrantOverCapacity("x", cap="MCPWALL_X", limit=3, retry_after_s=0.2)
    assert retry_after(refused) == [("retry-after", "1")]  # at least a second, rounded up
    assert refused.data == {"cap": "MCPWALL_X", "limit": 3, "retry_after_s": 1}
    assert retry_after(InvalidParams("x")) == []

"""HTTP statuses for refusals on each era's wire."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import (
    BodyTooLarge,
    HeaderMismatch,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    ProtocolError,
    UnknownTool,
    UnsupportedProtocolVersion,
)
from mcpwall.core.mcp import http_status


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
    ],
)
def test_statuses(refused: ProtocolError, modern: int, legacy: int) -> None:
    assert http_status(refused, modern=True) == modern
    assert http_status(refused, modern=False) == legacy

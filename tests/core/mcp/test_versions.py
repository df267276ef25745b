"""Protocol versions and eras."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import MethodNotFound
from mcpwall.core.mcp import (
    LATEST_LEGACY,
    SUPPORTED_VERSIONS,
    allows_batches,
    check_modern_method,
    era_of,
    negotiate_legacy,
)


def test_eras() -> None:
    assert [era_of(v) for v in SUPPORTED_VERSIONS] == ["legacy"] * 4 + ["modern"]
    assert era_of("2026-07-29") is None
    assert LATEST_LEGACY == "2025-11-25"


def test_only_2025_03_26_has_batches() -> None:
    assert [v for v in SUPPORTED_VERSIONS if allows_batches(v)] == ["2025-03-26"]


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("2024-11-05", "2024-11-05"),
        ("2025-06-18", "2025-06-18"),
        ("2026-07-28", "2025-11-25"),
        ("1.0", "2025-11-25"),
        (None, "2025-11-25"),
    ],
)
def test_legacy_negotiation(requested: object, answered: str) -> None:
    assert negotiate_legacy(requested) == answered


def test_methods_removed_in_2026() -> None:
    check_modern_method("tools/call")
    check_modern_method("server/discover")
    with pytest.raises(MethodNotFound, match="Method not found: ping") as refused:
        check_modern_method("ping")
    assert refused.value.code == -32601

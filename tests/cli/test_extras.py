"""``mcpwall demo`` and ``mcpwall sandbox`` without the ``demo`` extra: a clear error naming it."""

from __future__ import annotations

from importlib import metadata

import pytest

from mcpwall.cli import extras
from tests.cli.conftest import Run


def test_the_pinned_sdk_version_comes_from_the_packages_own_metadata() -> None:
    assert extras.pinned_sdk_version() == metadata.version("mcp")


@pytest.mark.parametrize("command", ["sandbox"])
def test_without_the_sdk_the_command_names_the_extra(
    command: str, mcpwall: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    result = mcpwall(command)
    assert result.exit_code == 2
    assert f"mcpwall {command} needs the MCP SDK (mcp==" in result.output
    assert 'pip install "mcpwall[demo]"' in result.output


def test_another_sdk_version_is_named_with_the_one_needed(
    mcpwall: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metadata, "version", lambda name: "1.9.0")
    result = mcpwall("sandbox")
    assert result.exit_code == 2
    assert "found mcp 1.9.0" in result.output

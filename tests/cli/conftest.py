"""A command-line runner whose state lives in a fresh ``MCPWALL_HOME``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mcpwall.cli import cli

Run = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def mcpwall(home: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``mcpwall(*args)`` runs the CLI against a store in ``home``, as a user would."""
    monkeypatch.setenv("MCPWALL_HOME", str(home))
    monkeypatch.delenv("MCPWALL_DATABASE_URL", raising=False)
    monkeypatch.delenv("MCPWALL_SECRET_KEY", raising=False)
    for variable in ("MCPWALL_DATABASE_URL_FILE", "MCPWALL_SECRET_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input)

    return run

"""``mcpwall migrate``: the store is created or brought to the newest schema, and says so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from mcpwall.adapters.store.migrate import alembic_config, head
from tests.cli.conftest import Run


def test_migrate_creates_the_schema_and_names_its_revision(mcpwall: Run, home: Path) -> None:
    result = mcpwall("migrate")
    assert result.exit_code == 0, result.output
    assert f"is at schema revision {head()}" in result.output
    assert _revision(home) == head()


def test_migrate_brings_an_older_schema_forward(mcpwall: Run, home: Path) -> None:
    home.mkdir()
    engine = create_engine(f"sqlite:///{home / 'mcpwall.db'}")
    first = ScriptDirectory.from_config(alembic_config()).get_base()
    assert isinstance(first, str)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), first)
    engine.dispose()
    assert first != head()

    result = mcpwall("migrate")

    assert result.exit_code == 0, result.output
    assert f"is at schema revision {head()}" in result.output
    assert _revision(home) == head()


def test_an_unreachable_database_is_a_clear_error(
    mcpwall: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPWALL_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    result = mcpwall("migrate")
    assert result.exit_code == 2
    assert "127.0.0.1:1" in result.output
    assert "secret" not in result.output


def test_the_database_url_from_the_file_its_file_variable_names(
    mcpwall: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "elsewhere" / "store.db"
    database.parent.mkdir()
    mounted = tmp_path / "database-url"
    mounted.write_text(f"sqlite:///{database}\n")
    monkeypatch.setenv("MCPWALL_DATABASE_URL_FILE", str(mounted))
    result = mcpwall("migrate")
    assert result.exit_code == 0, result.output
    assert database.exists()
    with sqlite3.connect(database) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head()


def test_a_database_url_given_twice_is_refused_naming_both(
    mcpwall: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mounted = tmp_path / "database-url"
    mounted.write_text("postgresql://nobody:secret@127.0.0.1:1/none\n")
    monkeypatch.setenv("MCPWALL_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    monkeypatch.setenv("MCPWALL_DATABASE_URL_FILE", str(mounted))
    result = mcpwall("migrate")
    assert result.exit_code == 2
    assert "MCPWALL_DATABASE_URL and MCPWALL_DATABASE_URL_FILE are both set" in result.output
    assert "secret" not in result.output


def _revision(home: Path) -> str:
    with sqlite3.connect(home / "mcpwall.db") as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert isinstance(revision, str)
    return revision

"""The packaged migrations: they build what ``schema.py`` describes, and run twice safely."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, insert, inspect, text

from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.engine import create, database_url
from mcpwall.adapters.store.migrate import (
    HEAD,
    alembic_config,
    current,
    head,
    is_current,
    upgrade,
)
from mcpwall.adapters.store.schema import metadata, upstreams
from mcpwall.core.registry import Pinning


def test_the_migrated_schema_is_the_one_the_store_queries(database_url: str) -> None:
    engine = create(database_url_for(database_url))
    try:
        upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert differences == []
    assert tables == {*metadata.tables, "alembic_version"}


def test_migrating_twice_changes_nothing(database_url: str, tmp_path: Path) -> None:
    engine = create(database_url_for(database_url))
    try:
        upgrade(engine)
        upgrade(engine)
        with engine.connect() as connection:
            assert current(connection) == head()
    finally:
        engine.dispose()


def test_the_recorded_head_is_alembics_own() -> None:
    # A new migration without a new HEAD would leave stores behind, unmigrated, at every start.
    assert head() == HEAD


def test_a_current_schema_is_recognised_without_alembic_and_only_then(database_url: str) -> None:
    engine = create(database_url_for(database_url))
    try:
        before = is_current(engine)  # no alembic_version table yet
        upgrade(engine)
        after = is_current(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        behind = is_current(engine)
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": HEAD}
            )
    finally:
        engine.dispose()
    assert (before, after, behind) == (False, True, False)


def test_reopening_a_store_keeps_its_data(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with_policy = open_store(database_url, home, environ={})
    with_policy.add_policy_version("seed", "{}", actor="test")
    with_policy.close()
    reopened = open_store(database_url, home, environ={})
    try:
        assert reopened.get_policy("seed").text == "{}"
        assert reopened.revision() == 1
    finally:
        reopened.close()


def test_an_upstream_stored_before_pinning_existed_reads_enforce(
    database_url: str, tmp_path: Path
) -> None:
    engine = create(database_url_for(database_url))
    try:
        with engine.connect() as connection, connection.begin():
            command.upgrade(alembic_config(connection), "0004")
            now = datetime(2026, 1, 1, tzinfo=UTC)
            row: dict[str, object] = {
                "name": "old",
                "kind": "http",
                "url": "https://old.example/mcp",
                "args": [],
                "env": {},
                "headers": {},
                "created_at": now,
                "updated_at": now,
            }
            # At 0004 there is no pinning column: insert only the columns it had.
            connection.execute(insert(upstreams).values(row))
        upgrade(engine)
    finally:
        engine.dispose()
    store = open_store(database_url, tmp_path / "home", environ={})
    try:
        upstream = store.get_upstream("old")
        assert (upstream.url, upstream.pinning) == ("https://old.example/mcp", Pinning.ENFORCE)
        assert store.get_pins("old").empty
    finally:
        store.close()


def test_migrating_says_one_line_when_it_changes_something_and_nothing_otherwise(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = create(database_url_for(database_url))
    try:
        upgrade(engine)
        first = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
        caplog.clear()
        upgrade(engine)
        second = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    finally:
        engine.dispose()
    created = f"created the database schema (revision {head()})"
    assert [(n, m) for n, level, m in first if level >= logging.INFO] == [
        ("mcpwall.store", created)
    ]
    assert [(n, m) for n, level, m in second if level >= logging.INFO] == []


def test_migrating_leaves_alembics_log_level_as_it_was(database_url: str) -> None:
    alembic = logging.getLogger("alembic")
    alembic.setLevel(logging.DEBUG)
    engine = create(database_url_for(database_url))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
        level = alembic.level
        alembic.setLevel(logging.NOTSET)
    assert level == logging.DEBUG


def database_url_for(url: str) -> URL:
    return database_url(url, Path("unused"))

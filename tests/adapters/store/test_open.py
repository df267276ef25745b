"""``open_store``: choosing the backend from the URL, and saying clearly when it can't."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import make_url

from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.engine import database_url, shown_url
from mcpwall.core.errors import InvalidValue, SecretKeyError, StoreUnavailable
from mcpwall.core.registry import Upstream


def test_without_a_url_the_store_is_a_private_sqlite_file_in_home(tmp_path: Path) -> None:
    home = tmp_path / "state" / ".mcpwall"
    store = open_store(None, home, environ={})
    try:
        assert store.url == f"sqlite:///{home / 'mcpwall.db'}"
        assert store.revision() == 0
    finally:
        store.close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "mcpwall.db").stat().st_mode) == 0o600
    with sqlite3.connect(home / "mcpwall.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://mcpwall@db:5432/mcpwall", "postgresql+psycopg"),
        ("postgres://mcpwall@db/mcpwall", "postgresql+psycopg"),
        ("postgresql+psycopg://mcpwall@db/mcpwall", "postgresql+psycopg"),
        ("sqlite:////var/lib/mcpwall/mcpwall.db", "sqlite+pysqlite"),
    ],
)
def test_urls_map_to_their_drivers(url: str, driver: str) -> None:
    assert database_url(url, Path("home")).drivername == driver


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/mcpwall", r'^database URL scheme "mysql": expected sqlite or postgresql$'),
        ("sqlite://", r'^database URL "sqlite://": expected sqlite:///PATH to a file$'),
        ("sqlite:///:memory:", "expected sqlite:///PATH to a file"),
        ("not a url:pw@", r"^database URL \(not shown, 13 characters\): expected sqlite:///PATH"),
    ],
)
def test_a_bad_url_is_refused_clearly(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match=message):
        open_store(url, tmp_path, environ={})


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://mcpwall:hunter2@127.0.0.1:1/mcpwall"  # nothing listens on port 1
    with pytest.raises(StoreUnavailable) as caught:
        open_store(url, tmp_path, environ={})
    message = str(caught.value)
    assert message.startswith(
        "database postgresql://mcpwall:***@127.0.0.1:1/mcpwall is unavailable: "
    )
    assert "hunter2" not in message
    assert caught.value.url == "postgresql://mcpwall:***@127.0.0.1:1/mcpwall"


def test_a_sqlite_file_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'mcpwall.db'}"
    with pytest.raises(StoreUnavailable, match="cannot create the file: No such file"):
        open_store(url, tmp_path, environ={})


def test_a_database_locked_by_another_process_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    open_store(f"sqlite:///{path}", tmp_path, environ={}).close()
    store = open_store(f"sqlite:///{path}?timeout=0.05", tmp_path, environ={})
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
        with pytest.raises(StoreUnavailable, match="is unavailable: database is locked"):
            store.add_upstream(Upstream.stdio("k8s", "true"), actor="test")
        holder.execute("ROLLBACK")
        store.add_upstream(Upstream.stdio("k8s", "true"), actor="test")
    finally:
        holder.close()
        store.close()


def test_a_store_refuses_a_key_that_is_not_its_own(database_url: str, tmp_path: Path) -> None:
    open_store(database_url, tmp_path / "first", environ={}).close()
    with pytest.raises(SecretKeyError, match=r"is not the key the secrets in .* were stored with"):
        open_store(database_url, tmp_path / "second", environ={})


def test_an_environment_key_is_used_instead_of_a_key_file(tmp_path: Path) -> None:
    environ = {"MCPWALL_SECRET_KEY": "A" * 43}
    store = open_store(None, tmp_path / "home", environ=environ)
    store.add_upstream(Upstream.stdio("k8s", "true", env={"TOKEN": "t0ken"}), actor="test")
    store.close()
    assert not (tmp_path / "home" / "secret.key").exists()
    with pytest.raises(SecretKeyError):
        open_store(None, tmp_path / "home", environ={})
    reopened = open_store(None, tmp_path / "home", environ=environ)
    try:
        assert reopened.get_upstream("k8s").env == {"TOKEN": "t0ken"}
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@db:5432/x", "postgresql://u:***@db:5432/x"),
        (
            "postgresql://u@db/x?password=pw&sslmode=require&sslpassword=k",
            "postgresql://u@db/x?password=***&sslmode=require&sslpassword=***",
        ),
        ("postgresql://db/x?sslmode=require", "postgresql://db/x?sslmode=require"),
    ],
)
def test_shown_urls_mask_passwords_in_the_user_part_and_the_query(url: str, shown: str) -> None:
    assert shown_url(make_url(url)) == shown

"""``peek_upstream``: the embedded store's upstream as the store itself reads it, or no guess.

``mcpwall stdio`` spawns from this guess before it opens the store (``adapters/upstream/
early.py``), and keeps the process only if the store agrees; so it must agree whenever it
answers, and answer None rather than change anything or wait.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.embedded import DATABASE_FILE, peek_upstream
from mcpwall.core.registry import Pinning, Upstream
from mcpwall.core.tokens import hash_token

KEY = "MCPWALL_SECRET_KEY"
ENVIRON = {KEY: "A" * 43}  # a 32-byte key, so that no key file is involved unless a test says
REGISTERED = [
    Upstream.stdio(
        "k8s", "/usr/bin/env", ("npx", "-y", "k8s-mcp"), env={"KUBE_TOKEN": "s3cr3t", "X": ""},
        cwd="/tmp", pinning=Pinning.WARN,
    ),
    Upstream.stdio("plain", "server"),
    Upstream.remote("gh", "https://example.com/mcp", {"Authorization": "Bearer t"}),
]  # fmt: skip
TOKEN = "mcpw_desktop"  # its grant binds every upstream registered
OTHER = "mcpw_other"  # its grant binds "plain" alone
NOW = datetime(2026, 7, 28, 12, 0, tzinfo=UTC)  # the grants above never expire


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose embedded store holds :data:`REGISTERED` and the grants of :data:`TOKEN`
    and :data:`OTHER`, closed again."""
    home = tmp_path / "home"
    store = open_store(None, home, environ=ENVIRON)
    try:
        for upstream in REGISTERED:
            store.add_upstream(upstream, actor="test")
        store.add_policy_version("seed", "{}", actor="test")
        every = {upstream.name: "seed" for upstream in REGISTERED}
        store.issue_grant("desktop", every, hash_token(TOKEN), actor="test")
        store.issue_grant("other", {"plain": "seed"}, hash_token(OTHER), actor="test")
    finally:
        store.close()
    return home


@pytest.mark.parametrize("upstream", REGISTERED, ids=lambda upstream: upstream.name)
def test_an_upstream_reads_as_the_store_reads_it(home: Path, upstream: Upstream) -> None:
    store = open_store(None, home, environ=ENVIRON)
    try:
        assert peek_upstream(upstream.name, TOKEN, home, ENVIRON, now=NOW) == store.get_upstream(
            upstream.name
        )
        # While another process holds the store open, too (its changes in the write-ahead log).
        store.update_upstream(Upstream.stdio("plain", "other-server"), actor="test")
        assert peek_upstream("plain", TOKEN, home, ENVIRON, now=NOW) == Upstream.stdio(
            "plain", "other-server"
        )
    finally:
        store.close()
    assert peek_upstream(upstream.name, TOKEN, home, ENVIRON, now=NOW) is not None


def test_an_upstream_not_registered_reads_as_none(home: Path) -> None:
    assert peek_upstream("absent", TOKEN, home, ENVIRON, now=NOW) is None


def test_only_a_token_whose_grant_binds_the_upstream_and_is_not_revoked_reads_it(
    home: Path,
) -> None:
    assert peek_upstream("k8s", "mcpw_unknown", home, ENVIRON, now=NOW) is None
    assert peek_upstream("k8s", OTHER, home, ENVIRON, now=NOW) is None  # it binds "plain" alone
    plain = Upstream.stdio("plain", "server")
    assert peek_upstream("plain", OTHER, home, ENVIRON, now=NOW) == plain
    store = open_store(None, home, environ=ENVIRON)
    try:
        store.revoke_grant("other", actor="test")
    finally:
        store.close()
    assert peek_upstream("plain", OTHER, home, ENVIRON, now=NOW) is None
    assert peek_upstream("plain", TOKEN, home, ENVIRON, now=NOW) is not None


def test_an_expired_grant_reads_nothing_from_the_moment_it_expires(home: Path) -> None:
    expires = NOW + timedelta(hours=1, microseconds=1)
    store = open_store(None, home, environ=ENVIRON)
    try:
        store.issue_grant("brief", {"plain": "seed"}, hash_token("mcpw_brief"), actor="test",
                          expires_at=expires)  # fmt: skip
        grant = store.find_grant_by_token_hash(hash_token("mcpw_brief"))
    finally:
        store.close()
    before = expires - timedelta(microseconds=1)
    assert grant is not None
    assert grant.is_active(before)  # the check that counts says the same
    assert not grant.is_active(expires)
    assert peek_upstream("plain", "mcpw_brief", home, ENVIRON, now=before) is not None
    assert peek_upstream("plain", "mcpw_brief", home, ENVIRON, now=expires) is None
    assert peek_upstream("plain", TOKEN, home, ENVIRON, now=expires) is not None


def test_a_home_without_a_store_is_left_as_it_was(tmp_path: Path) -> None:
    assert peek_upstream("k8s", TOKEN, tmp_path / "none", ENVIRON, now=NOW) is None
    assert not (tmp_path / "none").exists()
    assert peek_upstream("k8s", TOKEN, tmp_path, ENVIRON, now=NOW) is None
    assert list(tmp_path.iterdir()) == []  # no file made in an empty home either


def test_a_key_that_does_not_open_the_secrets_gives_no_guess(home: Path) -> None:
    assert peek_upstream("k8s", TOKEN, home, {KEY: "B" * 43}, now=NOW) is None


def test_a_file_that_is_not_the_store_gives_no_guess(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DATABASE_FILE) as other:
        other.execute("CREATE TABLE upstreams (name TEXT)")
        other.execute("INSERT INTO upstreams VALUES ('k8s')")
    other.close()
    assert peek_upstream("k8s", TOKEN, tmp_path, ENVIRON, now=NOW) is None
    (tmp_path / DATABASE_FILE).write_bytes(b"not a database")
    assert peek_upstream("k8s", TOKEN, tmp_path, ENVIRON, now=NOW) is None


def test_a_store_locked_by_a_writer_gives_no_guess_rather_than_a_wait(home: Path) -> None:
    writer = sqlite3.connect(home / DATABASE_FILE, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=DELETE")  # a rollback journal: a writer blocks reads
        writer.execute("BEGIN EXCLUSIVE")
        assert peek_upstream("k8s", TOKEN, home, ENVIRON, now=NOW) is None
    finally:
        writer.close()
    assert peek_upstream("k8s", TOKEN, home, ENVIRON, now=NOW) is not None

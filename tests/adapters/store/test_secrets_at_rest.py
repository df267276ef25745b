"""No token and no secret value is written anywhere in plain text."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import create_engine, text

from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.engine import database_url as engine_url
from mcpwall.core.registry import Role, Upstream
from mcpwall.core.tokens import TokenKind, hash_token, make_token
from mcpwall.ports.store import Store

ENV_SECRET = "env-s3cr3t-" + "x" * 16
HEADER_SECRET = "Bearer header-s3cr3t-" + "y" * 16


def use_store(store: Store) -> list[str]:
    """Store secrets and tokens the way the CLI would; return every plaintext used."""
    grant_token = make_token(TokenKind.GRANT, secrets.token_bytes(32))
    rotated_token = make_token(TokenKind.GRANT, secrets.token_bytes(32))
    admin_token = make_token(TokenKind.ADMIN, secrets.token_bytes(32))
    k8s = Upstream.stdio("k8s", "npx", env={"K8S_TOKEN": ENV_SECRET})
    store.add_upstream(k8s, actor="test")
    remote = Upstream.remote("gh", "https://example.com/mcp", {"Authorization": HEADER_SECRET})
    store.add_upstream(remote, actor="test")
    store.add_policy_version("seed", "{}", actor="test")
    grant = store.issue_grant("alice", {"k8s": "seed"}, hash_token(grant_token), actor="test")
    store.rotate_grant(grant.id, hash_token(rotated_token), actor="test")
    store.create_admin_token(Role.ADMIN, hash_token(admin_token), actor="test")
    assert store.get_upstream("k8s").env["K8S_TOKEN"] == ENV_SECRET
    return [ENV_SECRET, HEADER_SECRET, grant_token, rotated_token, admin_token]


def test_no_plaintext_appears_in_any_file_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = open_store(None, home, environ={})
    try:
        plaintexts = use_store(store)
        # While open, the changes are still in the write-ahead log; after, in the database.
        assert_not_in_files(home, plaintexts, expected={"mcpwall.db", "mcpwall.db-wal"})
    finally:
        store.close()
    assert_not_in_files(home, plaintexts, expected={"mcpwall.db"})


def assert_not_in_files(home: Path, plaintexts: list[str], expected: set[str]) -> None:
    files = [path for path in home.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"secret.key", *expected}
    for path in files:
        content = path.read_bytes()
        for plaintext in plaintexts:
            assert plaintext.encode() not in content, f"{plaintext[:8]}… found in {path.name}"


def test_no_plaintext_appears_in_any_row(database_url: str, tmp_path: Path) -> None:
    store = open_store(database_url, tmp_path / "home", environ={})
    try:
        plaintexts = use_store(store)
    finally:
        store.close()
    engine = create_engine(engine_url(database_url, tmp_path))
    try:
        with engine.connect() as connection:
            tables = ["upstreams", "grants", "admin_tokens", "audit_events", "store_meta"]
            dump = repr([connection.execute(text(f"SELECT * FROM {t}")).all() for t in tables])
    finally:
        engine.dispose()
    assert "K8S_TOKEN" in dump  # keys are kept in the clear, to list them
    for plaintext in plaintexts:
        assert plaintext not in dump

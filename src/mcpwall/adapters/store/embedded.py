"""The embedded store's file, and one upstream read from it with the standard library alone.

``mcpwall stdio`` spawns its upstream before it opens the store (issue 16 §3): the upstream's
own start then overlaps ours instead of following it. To know the command that early it
reads the upstream's row here, without SQLAlchemy, the migrations or the policy engine; and
only for a token whose grant binds that upstream and is neither revoked nor expired (as
:func:`~mcpwall.core.registry.status_at` says), so that a process with a token that opens
nothing never gets the upstream spawned.

What :func:`peek_upstream` says is a guess, never the authority: the store opened as usual
says what the upstream is, and a process spawned from the guess is used only if the two agree
(``adapters/upstream/early.py``). So this reads the file read-only, creates and migrates
nothing, and says None whenever anything is unexpected — no file yet, a schema it can't read,
the database locked, a key that does not open the secrets: the upstream is then spawned when
first used, as without it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Final

from mcpwall.adapters.secrets import SecretBox, load_secret_key
from mcpwall.adapters.store import rows
from mcpwall.core.errors import MCPWallError
from mcpwall.core.registry import Status, Upstream, status_at
from mcpwall.core.tokens import hash_token

DATABASE_FILE: Final = "mcpwall.db"  # the embedded store, in MCPWALL_HOME
# The newest migration's revision: a new migration changes it (tests/adapters/store insists).
# Here, not in ``migrate``, so that the start's own read path checks it without SQLAlchemy.
HEAD: Final = "0008"
# How long to wait for a lock (SQLite) or a connection (PostgreSQL) before giving up.
WAIT_SECONDS: Final = 10
# A lock held longer than this (a migration, a long write) means no guess, not a wait.
BUSY_TIMEOUT_SECONDS: Final = 0.05
_COLUMNS: Final = ("name", "kind", "command", "args", "cwd", "url", "env", "headers", "pinning")
_JSON_COLUMNS: Final = frozenset({"args", "env", "headers"})
_BOUND: Final = (
    "SELECT grants.expires_at FROM grants"
    " JOIN grant_bindings ON grant_bindings.grant_id = grants.id"
    " WHERE grants.token_hash = ? AND grants.revoked_at IS NULL AND grant_bindings.upstream = ?"
)


def peek_upstream(
    name: str, token: str, home: Path, environ: Mapping[str, str], *, now: datetime
) -> Upstream | None:
    """Upstream ``name`` as the embedded store in ``home`` has it, if ``token``'s grant binds
    it and is active at ``now``; None when it does not, or the store can't say at once (see
    the module's docstring)."""
    path = home / DATABASE_FILE
    if not path.is_file():
        return None  # the first start: nothing registered yet, and nothing to create here
    try:
        row = _read(path, name, hash_token(token), now)
        if row is None:
            return None
        box = SecretBox(load_secret_key(home, environ))
        return rows.upstream_from(row, box)  # type: ignore[arg-type]  # a row by attributes
    except (sqlite3.Error, MCPWallError, OSError, ValueError, TypeError, AttributeError):
        return None


def _read(path: Path, name: str, token_hash: str, now: datetime) -> SimpleNamespace | None:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    with closing(connection):
        bound = connection.execute(_BOUND, (token_hash, name)).fetchone()
        if bound is None or status_at(now, _utc(bound[0]), None) is not Status.ACTIVE:
            return None
        query = f"SELECT {', '.join(_COLUMNS)} FROM upstreams WHERE name = ?"  # noqa: S608
        found = connection.execute(query, (name,)).fetchone()
    if found is None:
        return None
    values = dict(zip(_COLUMNS, found, strict=True))
    for column in _JSON_COLUMNS:
        values[column] = json.loads(values[column])  # SQLAlchemy's JSON type, on SQLite: text
    return SimpleNamespace(**values)


def _utc(stored: str | None) -> datetime | None:
    """A time as ``schema.UTCDateTime`` gives it back from SQLite, where it keeps UTC without
    a zone."""
    if stored is None:
        return None
    value = datetime.fromisoformat(stored)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

"""The embedded store at ``mcpwall stdio``'s start: its first reads on plain ``sqlite3``, the
SQL store opened after the first answer (issue 16 §3).

A desktop agent waits for its first answer (``initialize``, ``tools/list``) from the moment it
spawns ``mcpwall stdio``, and importing SQLAlchemy alone took about 40 % of what mcpwall ran
before it. What that answer needs from the store is six reads: the grant of a token (and
again by id), the policy it binds, the upstream, its pins, the revision. So
:class:`StartingStore` is a ``Store`` that answers those six from :class:`SQLiteReads` (the
same tables, the same rows turned into the same values by ``rows``, proven equal to
``SQLStore``'s answers by ``tests/adapters/store/test_starting.py``) until :meth:`full` opens
the SQL store; from then on, and for every other method (every write: the proxy log, the
counters, a first-use pin, "last used"), the SQL store answers.

It is used only where it can be exactly as strict as the SQL store's own opening
(:func:`open_starting_store` says None otherwise, and the caller opens the store as usual):
the default file in ``MCPWALL_HOME`` exists, its schema is at :data:`embedded.HEAD` (no
migration to run) and the secret key is the one its secrets were stored with. A read that
fails here (the file locked past the busy timeout, say) is asked of the SQL store, which
says what is wrong as it always does: never a guess, never an answer from elsewhere.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final

from mcpwall.adapters.secrets import SecretBox, load_secret_key
from mcpwall.adapters.store import rows
from mcpwall.adapters.store.changes import REVISION_QUERY, SQLiteChangeSignal
from mcpwall.adapters.store.embedded import DATABASE_FILE, HEAD, WAIT_SECONDS
from mcpwall.core.errors import NotFound
from mcpwall.core.pins import UNSET, InstructionsArg, Pins, read_instructions_pin, read_tool_pin
from mcpwall.core.registry import is_grant_id, policy_version_not_found
from mcpwall.ports.changes import ChangeSignal
from mcpwall.ports.clock import Clock

if TYPE_CHECKING:
    from mcpwall.adapters.store.sql_store import SQLStore
    from mcpwall.core.audit import JSON, AuditEvent, AuditFilter
    from mcpwall.core.logins import LoginSession
    from mcpwall.core.registry import AdminToken, Grant, PolicyVersion, Role, Upstream
    from mcpwall.ports.ended_sessions import Ended

# The columns ``schema`` declares, in its order, for the tables read here.
_UPSTREAM: Final = ("name", "kind", "command", "args", "cwd", "url", "env", "headers", "pinning")
_JSON: Final = frozenset({"args", "env", "headers"})  # SQLAlchemy's JSON type, on SQLite: text
_GRANTS: Final = (
    "SELECT grants.id, grants.label, grants.token_hash, grants.created_at, grants.expires_at,"
    " grants.revoked_at, grants.last_used_at, grant_bindings.upstream, grant_bindings.policy"
    " FROM grants LEFT OUTER JOIN grant_bindings ON grants.id = grant_bindings.grant_id"
    " WHERE grants.{column} = ?"
    " ORDER BY grants.created_at, grants.id, grant_bindings.upstream"
)
_GRANT_TIMES: Final = ("created_at", "expires_at", "revoked_at", "last_used_at")
_POLICY: Final = (
    "SELECT policy_versions.name, policy_versions.version, policy_versions.text,"
    " policy_versions.created_at, policy_versions.created_by"
    " FROM policy_versions JOIN policies ON policies.name = policy_versions.name"
    " WHERE policy_versions.version = {version} AND policy_versions.name = ?"
    " ORDER BY policy_versions.name, policy_versions.version"
)


class SQLiteReads:
    """``SQLStore``'s reads that the start needs, on one read-only ``sqlite3`` connection
    (any thread; one read at a time, each in a transaction of its own, as ``SQLStore``'s)."""

    def __init__(self, path: Path, box: SecretBox) -> None:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        self._connection = sqlite3.connect(
            uri, uri=True, timeout=WAIT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self._box = box
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                yield self._connection
            finally:
                self._connection.execute("ROLLBACK")  # read only: nothing to keep

    # -- what opening the store checks ---------------------------------------------------------

    def schema_is_current(self) -> bool:
        """Whether ``alembic_version`` holds :data:`HEAD` and nothing else (``migrate``'s
        ``is_current``)."""
        with self._transaction() as connection:
            found = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        return [tuple(row) for row in found] == [(HEAD,)]

    def key_matches(self) -> bool:
        """Whether the secrets were stored with this key (``SQLStore.verify_secret_key``);
        False too before a key was recorded, which only the SQL store writes."""
        query = "SELECT key_check FROM store_meta WHERE id = 1"
        with self._transaction() as connection:
            found = connection.execute(query).fetchone()
        stored = None if found is None else found[0]
        return isinstance(stored, str) and hmac.compare_digest(stored, self._box.key_check)

    # -- the reads -----------------------------------------------------------------------------

    def revision(self) -> int:
        with self._transaction() as connection:
            found = connection.execute(REVISION_QUERY).fetchone()
        if found is None:
            raise sqlite3.DatabaseError("store_meta has no row")  # the SQL store says why
        return int(found[0])

    def find_grant_by_token_hash(self, token_hash: str) -> Grant | None:
        found = self._grants_where("token_hash", token_hash)
        return found[0] if found else None

    def get_grant(self, ref: str) -> Grant:
        found = self._grants_where("id" if is_grant_id(ref) else "active_label", ref)
        if not found:
            raise NotFound("grant", ref)
        return found[0]

    def get_policy(self, name: str, version: int | None = None) -> PolicyVersion:
        wanted = "policies.current_version" if version is None else "?"
        query = _POLICY.format(version=wanted)
        parameters = (name,) if version is None else (version, name)
        with self._transaction() as connection:
            found = connection.execute(query, parameters).fetchall()
        if found:
            name_, number, text, created_at, created_by = found[0]
            row = SimpleNamespace(
                name=name_, version=number, text=text, created_at=_utc(created_at),
                created_by=created_by,
            )  # fmt: skip
            return rows.policy_version_from(row)  # type: ignore[arg-type]  # a row by attributes
        if version is None:
            raise NotFound("policy", name)
        latest = self.get_policy(name).version  # NotFound if there is no such policy
        raise policy_version_not_found(name, version, latest)

    def get_upstream(self, name: str) -> Upstream:
        with self._transaction() as connection:
            return self._get_upstream(connection, name)

    def get_pins(self, upstream: str) -> Pins:
        with self._transaction() as connection:
            self._get_upstream(connection, upstream)
            query = (
                "SELECT tool, definition, hash, pinned_at, pinned_by FROM tool_pins"
                " WHERE upstream = ? ORDER BY tool"
            )
            tools = {
                tool: read_tool_pin(upstream, tool, definition, hashed, _utc(at), by)
                for tool, definition, hashed, at, by in connection.execute(query, (upstream,))
            }
            query = (
                "SELECT text, hash, pinned_at, pinned_by FROM instruction_pins WHERE upstream = ?"
            )
            row = connection.execute(query, (upstream,)).fetchone()
        instructions = (
            None
            if row is None
            else read_instructions_pin(upstream, row[0], row[1], _utc(row[2]), row[3])
        )
        return Pins(upstream, tools, instructions)

    def _get_upstream(self, connection: sqlite3.Connection, name: str) -> Upstream:
        query = f"SELECT {', '.join(_UPSTREAM)} FROM upstreams WHERE name = ?"  # noqa: S608
        found = connection.execute(query, (name,)).fetchone()
        if found is None:
            raise NotFound("upstream", name)
        values = dict(zip(_UPSTREAM, found, strict=True))
        for column in _JSON:
            values[column] = json.loads(values[column])
        return rows.upstream_from(SimpleNamespace(**values), self._box)  # type: ignore[arg-type]

    def _grants_where(self, column: str, value: str) -> list[Grant]:
        with self._transaction() as connection:
            found = connection.execute(_GRANTS.format(column=column), (value,)).fetchall()
        names = ("id", "label", "token_hash", *_GRANT_TIMES, "upstream", "policy")
        read = []
        for row in found:
            values = dict(zip(names, row, strict=True))
            for time in _GRANT_TIMES:
                values[time] = _utc_or_none(values[time])
            read.append(SimpleNamespace(**values))
        return rows.grants_from(read)  # type: ignore[arg-type]  # rows by attributes


def _utc(stored: str) -> datetime:
    """A time as ``schema.UTCDateTime`` gives it back from SQLite, where it keeps UTC without
    a zone (SQLAlchemy writes ``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    value = datetime.fromisoformat(stored)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_or_none(stored: str | None) -> datetime | None:
    return None if stored is None else _utc(stored)


def open_starting_store(
    home: Path, environ: Mapping[str, str], *, clock: Clock | None = None
) -> StartingStore | None:
    """The embedded store in ``home``, its first reads on ``sqlite3``; None when opening it
    has more to do than check (no file yet, a migration to run, no key recorded yet) or can't
    check (the key does not open its secrets, the file can't be read): the caller then opens
    the store as usual, which does that, or says what is wrong."""
    path = home / DATABASE_FILE
    if not path.is_file():
        return None
    box = SecretBox(load_secret_key(home, environ))
    try:
        reads = SQLiteReads(path, box)
    except sqlite3.Error:
        return None
    try:
        ready = reads.schema_is_current() and reads.key_matches()
    except sqlite3.Error:
        ready = False
    if not ready:
        reads.close()
        return None

    def open_full() -> SQLStore:
        from mcpwall.adapters.store.opening import open_store

        return open_store(None, home, clock=clock, environ=environ)

    return StartingStore(reads, open_full, path=path)


class StartingStore:
    """A ``Store`` whose first reads come from :class:`SQLiteReads`, until :meth:`full`
    opens the SQL store; build one with :func:`open_starting_store`."""

    def __init__(
        self, reads: SQLiteReads, open_full: Callable[[], SQLStore], *, path: Path
    ) -> None:
        self._reads: SQLiteReads | None = reads
        self._open_full = open_full
        self._full: SQLStore | None = None
        self._opening = threading.Lock()
        self.path = path
        self.url = f"sqlite:///{path}"  # as SQLStore.url names the default file

    @property
    def opened(self) -> bool:
        """Whether the SQL store is open (every method then goes to it)."""
        return self._full is not None

    def full(self) -> SQLStore:
        """The SQL store, opened (SQLAlchemy loaded, the schema and key checked again) on the
        first call, from whichever thread. The ``sqlite3`` reads end then, whether it opened
        or not: once it fails, every method asks it again, and fails as it does."""
        full = self._full
        if full is not None:
            return full
        with self._opening:
            if self._full is None:
                try:
                    self._full = self._open_full()
                finally:  # opened, or it can't be (a key or schema changed meanwhile): fail closed
                    reads, self._reads = self._reads, None
                    if reads is not None:
                        reads.close()
            return self._full

    def change_signal(self) -> ChangeSignal:
        """The SQL store's signal for this file (``changes.py``; no SQLAlchemy in it)."""
        return SQLiteChangeSignal(str(self.path))

    def close(self) -> None:
        reads, self._reads = self._reads, None
        if reads is not None:
            reads.close()
        with self._opening:
            if self._full is not None:
                self._full.close()

    def _read(self, name: str, *arguments: Any) -> Any:
        """``name`` read from ``sqlite3`` while the SQL store is not open, else (or when that
        read fails: the SQL store reports the failure) from the SQL store."""
        reads = self._reads
        if reads is not None and self._full is None:
            try:
                return getattr(reads, name)(*arguments)
            except sqlite3.Error:
                pass  # locked, closed meanwhile, unreadable: the SQL store answers, or says why
        return getattr(self.full(), name)(*arguments)

    # -- the reads the start needs -------------------------------------------------------------

    def revision(self) -> int:
        return int(self._read("revision"))

    def find_grant_by_token_hash(self, token_hash: str) -> Grant | None:
        found: Grant | None = self._read("find_grant_by_token_hash", token_hash)
        return found

    def get_grant(self, ref: str) -> Grant:
        found: Grant = self._read("get_grant", ref)
        return found

    def get_policy(self, name: str, version: int | None = None) -> PolicyVersion:
        found: PolicyVersion = self._read("get_policy", name, version)
        return found

    def get_upstream(self, name: str) -> Upstream:
        found: Upstream = self._read("get_upstream", name)
        return found

    def get_pins(self, upstream: str) -> Pins:
        found: Pins = self._read("get_pins", upstream)
        return found

    # -- everything else: the SQL store --------------------------------------------------------

    def touch_grant(self, grant_id: str) -> None:
        self.full().touch_grant(grant_id)

    def add_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        return self.full().add_upstream(upstream, actor=actor)

    def update_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        return self.full().update_upstream(upstream, actor=actor)

    def list_upstreams(self) -> list[Upstream]:
        return self.full().list_upstreams()

    def remove_upstream(self, name: str, *, actor: str) -> None:
        self.full().remove_upstream(name, actor=actor)

    def pin_tools(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: InstructionsArg = UNSET,
        actor: str,
    ) -> Pins:
        return self.full().pin_tools(upstream, tools, instructions=instructions, actor=actor)

    def pin_first_use(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: str | None,
        actor: str,
    ) -> Pins:
        return self.full().pin_first_use(upstream, tools, instructions=instructions, actor=actor)

    def unpin_tools(self, upstream: str, names: Collection[str], *, actor: str) -> Pins:
        return self.full().unpin_tools(upstream, names, actor=actor)

    def add_policy_version(self, name: str, text: str, *, actor: str) -> PolicyVersion:
        return self.full().add_policy_version(name, text, actor=actor)

    def list_policies(self) -> list[PolicyVersion]:
        return self.full().list_policies()

    def list_policy_versions(self, name: str) -> list[PolicyVersion]:
        return self.full().list_policy_versions(name)

    def issue_grant(
        self,
        label: str,
        bindings: Mapping[str, str],
        token_hash: str,
        *,
        expires_at: datetime | None = None,
        actor: str,
    ) -> Grant:
        return self.full().issue_grant(
            label, bindings, token_hash, expires_at=expires_at, actor=actor
        )

    def list_grants(self) -> list[Grant]:
        return self.full().list_grants()

    def revoke_grant(self, ref: str, *, actor: str) -> Grant:
        return self.full().revoke_grant(ref, actor=actor)

    def rotate_grant(self, ref: str, token_hash: str, *, actor: str) -> Grant:
        return self.full().rotate_grant(ref, token_hash, actor=actor)

    def create_admin_token(
        self,
        role: Role,
        token_hash: str,
        *,
        label: str | None = None,
        expires_at: datetime | None = None,
        actor: str,
    ) -> AdminToken:
        return self.full().create_admin_token(
            role, token_hash, label=label, expires_at=expires_at, actor=actor
        )

    def get_admin_token(self, token_id: str) -> AdminToken:
        return self.full().get_admin_token(token_id)

    def find_admin_token_by_token_hash(self, token_hash: str) -> AdminToken | None:
        return self.full().find_admin_token_by_token_hash(token_hash)

    def list_admin_tokens(self) -> list[AdminToken]:
        return self.full().list_admin_tokens()

    def revoke_admin_token(self, token_id: str, *, actor: str) -> AdminToken:
        return self.full().revoke_admin_token(token_id, actor=actor)

    def touch_admin_token(self, token_id: str) -> None:
        self.full().touch_admin_token(token_id)

    def append_audit(
        self,
        actor: str,
        action: str,
        object_kind: str,
        object_id: str,
        details: Mapping[str, JSON] | None = None,
    ) -> AuditEvent:
        return self.full().append_audit(actor, action, object_kind, object_id, details)

    def list_audit(
        self, *, limit: int = 100, before: int | None = None, only: AuditFilter | None = None
    ) -> list[AuditEvent]:
        return self.full().list_audit(limit=limit, before=before, only=only)

    def add_login_session(self, session: LoginSession, *, actor: str) -> None:
        self.full().add_login_session(session, actor=actor)

    def find_login_session(self, secret_hash: str) -> LoginSession | None:
        return self.full().find_login_session(secret_hash)

    def touch_login_session(self, secret_hash: str) -> None:
        self.full().touch_login_session(secret_hash)

    def end_login_session(self, secret_hash: str, *, actor: str) -> bool:
        return self.full().end_login_session(secret_hash, actor=actor)

    def prune_login_sessions(self, idle_since: datetime) -> int:
        return self.full().prune_login_sessions(idle_since)

    def end_session(self, key: str, expires_at: datetime) -> None:
        self.full().end_session(key, expires_at)

    def ended_sessions(self, after: int) -> Ended:
        return self.full().ended_sessions(after)

"""The tables, as SQLAlchemy Core sees them; the migrations under ``migrations/`` create them.

A test checks that the migrated database and these tables agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

NAME = String(63)
ID = String(32)

# Constraint names fixed by convention, so that migrations can refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so UTC is stored without one
    and given back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a stored time must be timezone-aware, got {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# One row: the revision every change bumps, and a fingerprint of the key for secrets at rest.
store_meta = Table(
    "store_meta",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", BigInteger, nullable=False),
    Column("key_check", String(64)),
)

upstreams = Table(
    "upstreams",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("command", Text),
    Column("args", JSON, nullable=False),
    Column("cwd", Text),
    Column("url", Text),
    Column("env", JSON, nullable=False),  # key → sealed value
    Column("headers", JSON, nullable=False),  # name → sealed value
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # ``core.registry.Pinning``; rows made before pinning existed read "enforce".
    Column("pinning", String(8), nullable=False, server_default="enforce"),
)

# One row per pinned tool (``core.pins``): the tool object as JSON text exactly as the upstream
# sent it (Text, not JSON: a JSON column may reorder keys or respell numbers), and its hash.
tool_pins = Table(
    "tool_pins",
    metadata,
    Column("upstream", NAME, ForeignKey("upstreams.name"), primary_key=True),
    Column("tool", Text, primary_key=True),
    Column("definition", Text, nullable=False),
    Column("hash", String(80), nullable=False),
    Column("pinned_at", UTCDateTime, nullable=False),
    Column("pinned_by", Text, nullable=False),
)

# The pin of each upstream's ``instructions`` (``text`` NULL: the server sent none).
instruction_pins = Table(
    "instruction_pins",
    metadata,
    Column("upstream", NAME, ForeignKey("upstreams.name"), primary_key=True),
    Column("text", Text),
    Column("hash", String(80), nullable=False),
    Column("pinned_at", UTCDateTime, nullable=False),
    Column("pinned_by", Text, nullable=False),
)

policies = Table(
    "policies",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("current_version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("name", NAME, ForeignKey("policies.name"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("label", NAME, nullable=False),
    # The label while the grant holds it; NULL once revoked or given up by an expired grant.
    # Unique, and NULLs are distinct: so a label is unique among active grants.
    Column("active_label", NAME, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)

# No foreign key to upstreams: a revoked grant keeps its bindings as history after the
# upstream goes; only active grants hold an upstream in place (checked by the store).
grant_bindings = Table(
    "grant_bindings",
    metadata,
    Column("grant_id", ID, ForeignKey("grants.id"), primary_key=True),
    Column("upstream", NAME, primary_key=True, index=True),
    Column("policy", NAME, ForeignKey("policies.name"), nullable=False),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("label", NAME),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)

# Dashboard logins (``core.logins``): the SHA-256 of each session's secret, never the secret.
login_sessions = Table(
    "login_sessions",
    metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("admin_token_id", ID, ForeignKey("admin_tokens.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Legacy sessions ended (DELETE) before they expire (``ports/ended_sessions.py``): the
# session's random key from its sealed id, never the id itself.
ended_sessions = Table(
    "ended_sessions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    # SQLite numbers rows only in a column declared exactly INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_kind", String(32), nullable=False),
    Column("object_id", String(128), nullable=False),
    Column("details", JSON, nullable=False),
)

# One row per call a rate limit counted (``adapters/counters/sql.py``): the log it counts in
# (``core.windows.log_name``), when (seconds since the epoch), and when it stops mattering
# (``at`` plus the log's window), which is what pruning goes by.
counter_events = Table(
    "counter_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("log", Text, nullable=False),
    Column("at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
    Index("ix_counter_events_log_at", "log", "at"),
)

# One row per agent request (DESIGN §6, built by ``core.proxylog.build_record``): argument
# keys, never values. Each index leads with what ``mcpwall logs`` filters on and ends with
# the time; the (upstream, tool, decision, rule, at) one also covers ``logs summary``, which
# then reads the index alone, already in group order.
proxy_log = Table(
    "proxy_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("request_id", Text, nullable=False),
    Column("grant_id", ID, nullable=False),
    Column("grant_label", NAME, nullable=False),
    Column("upstream", NAME, nullable=False),
    Column("method", Text, nullable=False),
    Column("tool", Text, nullable=False),
    Column("policy", NAME, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("rule", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("argument_keys", JSON, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("decision_ms", Double, nullable=False),
    Column("upstream_ms", Double, nullable=False),
    Column("total_ms", Double, nullable=False),
    Column("fail_open", Boolean, nullable=False),
    # ``core.pins.Standing.mark``: "" or changed, new, suspicious, unreadable (0006).
    Column("pin", String(16), nullable=False, server_default=""),
    Index("ix_proxy_log_decision_at", "decision", "at"),
    Index("ix_proxy_log_rule_at", "rule", "at"),
    Index("ix_proxy_log_grant_label_at", "grant_label", "at"),
    Index("ix_proxy_log_tool_at", "tool", "at"),
    Index("ix_proxy_log_summary", "upstream", "tool", "decision", "rule", "at"),
    Index("ix_proxy_log_pin_at", "pin", "at"),
)

# The proxy log's decided calls counted per hour (``core.logquery.rollup``), kept in the same
# transaction as the rows it counts (every batch insert, every prune), so ``logs summary``
# adds up whole hours here and reads raw rows only for the partial hour at its start (0008).
proxy_log_rollup = Table(
    "proxy_log_rollup",
    metadata,
    Column("bucket", UTCDateTime, primary_key=True),
    Column("upstream", NAME, primary_key=True),
    Column("tool", Text, primary_key=True),
    Column("decision", String(16), primary_key=True),
    Column("rule", Text, primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
)

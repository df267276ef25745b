"""The first schema: upstreams, policies and their versions, grants, admin tokens, audit trail.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(63)
ID = sa.String(32)


def _time(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    meta = op.create_table(
        "store_meta",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("key_check", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_store_meta"),
    )
    op.bulk_insert(meta, [{"id": 1, "revision": 0, "key_check": None}])
    op.create_table(
        "upstreams",
        sa.Column("name", NAME, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("command", sa.Text),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("cwd", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("env", sa.JSON, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_upstreams"),
    )
    _create_policies()
    _create_grants()
    _create_admin_tokens()
    _create_audit_events()


def _create_policies() -> None:
    op.create_table(
        "policies",
        sa.Column("name", NAME, nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        _time("created_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_policies"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        _time("created_at", nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_policy_versions"),
        sa.ForeignKeyConstraint(
            ["name"], ["policies.name"], name="fk_policy_versions_name_policies"
        ),
    )


def _create_grants() -> None:
    op.create_table(
        "grants",
        sa.Column("id", ID, nullable=False),
        sa.Column("label", NAME, nullable=False),
        sa.Column("active_label", NAME),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _time("created_at", nullable=False),
        _time("expires_at"),
        _time("revoked_at"),
        _time("last_used_at"),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
        sa.UniqueConstraint("active_label", name="uq_grants_active_label"),
        sa.UniqueConstraint("token_hash", name="uq_grants_token_hash"),
    )
    op.create_table(
        "grant_bindings",
        sa.Column("grant_id", ID, nullable=False),
        sa.Column("upstream", NAME, nullable=False),
        sa.Column("policy", NAME, nullable=False),
        sa.PrimaryKeyConstraint("grant_id", "upstream", name="pk_grant_bindings"),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name="fk_grant_bindings_grant_id_grants"
        ),
        sa.ForeignKeyConstraint(
            ["policy"], ["policies.name"], name="fk_grant_bindings_policy_policies"
        ),
    )
    op.create_index("ix_grant_bindings_upstream", "grant_bindings", ["upstream"])


def _create_admin_tokens() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("label", NAME),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _time("created_at", nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        _time("expires_at"),
        _time("revoked_at"),
        _time("last_used_at"),
        sa.PrimaryKeyConstraint("id", name="pk_admin_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_admin_tokens_token_hash"),
    )


def _create_audit_events() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        _time("at", nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_kind", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )


def downgrade() -> None:
    for table in (
        "audit_events",
        "admin_tokens",
        "grant_bindings",
        "grants",
        "policy_versions",
        "policies",
        "upstreams",
        "store_meta",
    ):
        op.drop_table(table)

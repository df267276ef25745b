"""The proxy log: one row per agent request, argument keys never values (DESIGN §6).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "proxy_log"
NAME = sa.String(63)

# Index name → columns; each serves one filter of ``mcpwall logs`` (and the time range).
INDEXES = {
    "ix_proxy_log_at": ["at"],
    "ix_proxy_log_decision_at": ["decision", "at"],
    "ix_proxy_log_rule_at": ["rule", "at"],
    "ix_proxy_log_grant_label_at": ["grant_label", "at"],
    "ix_proxy_log_tool_at": ["tool", "at"],
    "ix_proxy_log_summary": ["upstream", "tool", "decision", "rule", "at"],
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("grant_id", sa.String(32), nullable=False),
        sa.Column("grant_label", NAME, nullable=False),
        sa.Column("upstream", NAME, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("policy", NAME, nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("argument_keys", sa.JSON, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decision_ms", sa.Double, nullable=False),
        sa.Column("upstream_ms", sa.Double, nullable=False),
        sa.Column("total_ms", sa.Double, nullable=False),
        sa.Column("fail_open", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_proxy_log"),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    op.drop_table(TABLE)

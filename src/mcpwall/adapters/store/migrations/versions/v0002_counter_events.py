"""Rate-limit counters persisted with the store: one row per counted call.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "counter_events"


def upgrade() -> None:
    # Safe to run twice: a database that already has the table (made by hand, or by a run
    # that was stamped back) keeps it.
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_counter_events"),
    )
    op.create_index("ix_counter_events_log_at", TABLE, ["log", "at"])
    op.create_index("ix_counter_events_expires_at", TABLE, ["expires_at"])


def downgrade() -> None:
    op.drop_table(TABLE)

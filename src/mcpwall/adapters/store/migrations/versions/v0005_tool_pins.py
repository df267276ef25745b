"""Tool-definition pins: a pinning mode per upstream, pinned tools and instructions.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(63)
# As every time column (0001): migrations do not import the live schema, which moves on.
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A server default, so that every upstream stored before pinning existed reads "enforce".
    op.add_column(
        "upstreams",
        sa.Column("pinning", sa.String(8), nullable=False, server_default="enforce"),
    )
    op.create_table(
        "tool_pins",
        sa.Column("upstream", NAME, nullable=False),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("pinned_at", TIME, nullable=False),
        sa.Column("pinned_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("upstream", "tool", name="pk_tool_pins"),
        sa.ForeignKeyConstraint(
            ["upstream"], ["upstreams.name"], name="fk_tool_pins_upstream_upstreams"
        ),
    )
    op.create_table(
        "instruction_pins",
        sa.Column("upstream", NAME, nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("pinned_at", TIME, nullable=False),
        sa.Column("pinned_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("upstream", name="pk_instruction_pins"),
        sa.ForeignKeyConstraint(
            ["upstream"], ["upstreams.name"], name="fk_instruction_pins_upstream_upstreams"
        ),
    )


def downgrade() -> None:
    op.drop_table("instruction_pins")
    op.drop_table("tool_pins")
    with op.batch_alter_table("upstreams") as batch:
        batch.drop_column("pinning")

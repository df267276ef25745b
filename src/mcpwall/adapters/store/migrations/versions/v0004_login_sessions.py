"""Dashboard logins: server-side sessions, the secret's hash only (``core.logins``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "login_sessions"
# As every time column (0001): migrations do not import the live schema, which moves on.
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("admin_token_id", sa.String(32), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_seen_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("secret_hash", name="pk_login_sessions"),
        sa.ForeignKeyConstraint(
            ["admin_token_id"],
            ["admin_tokens.id"],
            name="fk_login_sessions_admin_token_id_admin_tokens",
        ),
    )
    op.create_index("ix_login_sessions_admin_token_id", TABLE, ["admin_token_id"])
    op.create_index("ix_login_sessions_expires_at", TABLE, ["expires_at"])


def downgrade() -> None:
    op.drop_table(TABLE)

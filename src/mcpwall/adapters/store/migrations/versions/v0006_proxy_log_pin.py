"""The proxy log's ``pin`` column: how a row's tool (or listing) stood against its pins.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A server default, so that every row written before pinning existed reads "" (no mark).
    op.add_column("proxy_log", sa.Column("pin", sa.String(16), nullable=False, server_default=""))
    op.create_index("ix_proxy_log_pin_at", "proxy_log", ["pin", "at"])


def downgrade() -> None:
    op.drop_index("ix_proxy_log_pin_at", table_name="proxy_log")
    op.drop_column("proxy_log", "pin")

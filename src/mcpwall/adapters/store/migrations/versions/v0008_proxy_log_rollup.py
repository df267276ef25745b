"""The proxy log's rollup: decided calls counted per hour, so ``logs summary`` stays fast.

Built from the rows already there, grouped as ``core.logquery.rollup`` groups them: by the
hour (in UTC) of ``at``, upstream, tool, decision and rule, rows without a decision left out.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "proxy_log_rollup"
# As every time column (0001): migrations do not import the live schema, which moves on.
TIME = sa.DateTime(timezone=True)
KEY = ["bucket", "upstream", "tool", "decision", "rule"]

# The hour of a stored time. SQLite keeps times as text, ``YYYY-MM-DD HH:MM:SS.ffffff``
# (UTC); PostgreSQL truncates in UTC whatever the session's time zone.
_HOUR = {
    "sqlite": "substr(at, 1, 13) || ':00:00.000000'",
    "postgresql": "date_trunc('hour', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("bucket", TIME, nullable=False),
        sa.Column("upstream", sa.String(63), nullable=False),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name="pk_proxy_log_rollup"),
    )
    hour = _HOUR[op.get_bind().dialect.name]
    op.execute(
        f"INSERT INTO {TABLE} (bucket, upstream, tool, decision, rule, n, last_at) "  # noqa: S608
        f"SELECT {hour}, upstream, tool, decision, rule, count(*), max(at) FROM proxy_log "
        f"WHERE decision != '' GROUP BY {hour}, upstream, tool, decision, rule"
    )


def downgrade() -> None:
    op.drop_table(TABLE)

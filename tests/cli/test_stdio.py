"""``mcpwall stdio``'s stderr, which desktop agents show in their logs: quiet at every start.

A migration that creates the database says so once; later starts say nothing about the store
(Alembic's ``Context impl SQLiteImpl.`` and ``Will assume non-transactional DDL.`` never appear).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mcpwall.adapters.store.migrate import head

MCPWALL = [sys.executable, "-m", "mcpwall"]
NOT_A_GRANT = "error: MCPWALL_TOKEN is not an active grant token (unknown, revoked or expired)"


def start_stdio(home: Path) -> str:
    """Start ``mcpwall stdio`` once with a token that opens nothing; its stderr."""
    foreign = ("MCPWALL_DATABASE_URL", "MCPWALL_REDIS_URL", "MCPWALL_SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if k not in foreign}
    env |= {"MCPWALL_HOME": str(home), "MCPWALL_TOKEN": "not-a-token", "COLUMNS": "200"}
    done = subprocess.run(
        [*MCPWALL, "stdio", "--upstream", "k8s"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    return done.stderr


def test_the_first_start_says_the_schema_was_created_and_the_next_says_nothing_of_it(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    first = start_stdio(home)
    second = start_stdio(home)
    created = f"mcpwall: created the database schema (revision {head()})"
    assert first.splitlines() == [created, NOT_A_GRANT]
    assert second.splitlines() == [NOT_A_GRANT]

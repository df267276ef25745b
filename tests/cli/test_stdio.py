"""``mcpwall stdio``'s stderr, which desktop agents show in their logs: quiet at every start.

A migration that creates the database says so once; later starts say nothing about the store
(Alembic's ``Context impl SQLiteImpl.`` and ``Will assume non-transactional DDL.`` never appear).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mcpwall.adapters.store.migrate import head

MCPWALL = [sys.executable, "-m", "mcpwall"]
# What a desktop agent must not wait for at every start (issue 16 §3): the migration tool, the
# drivers and clients of stores that are not configured, the HTTP surfaces, the tracing SDK.
HEAVY = (
    "alembic",
    "psycopg",
    "redis",
    "starlette",
    "uvicorn",
    "jinja2",
    "opentelemetry.sdk",
    "mcpwall.admin",
    "mcpwall.dashboard",
)
# `mcpwall stdio`'s start up to serving, in a fresh interpreter: the command found through the
# command line's lazy group, the store opened, the data plane built; then what got imported.
START = """
import asyncio, json, sys
from pathlib import Path
import click
from mcpwall.cli import cli
from mcpwall.adapters.store import open_store
from mcpwall.wiring import build_data_plane
cli.get_command(click.Context(cli), "stdio")
store = open_store(None, Path(sys.argv[1]))
plane = build_data_plane(store, Path(sys.argv[1]), log_console=sys.stderr.buffer)
loaded = sorted(sys.modules)
asyncio.run(plane.aclose())
store.close()
print(json.dumps(loaded))
"""
NOT_A_GRANT = "error: MCPWALL_TOKEN is not an active grant token (unknown, revoked or expired)"


def embedded_env(home: Path) -> dict[str, str]:
    """Our environment with the embedded default store in ``home``, and no Redis."""
    foreign = ("MCPWALL_DATABASE_URL", "MCPWALL_REDIS_URL", "MCPWALL_SECRET_KEY", "MCPWALL_TOKEN")
    env = {k: v for k, v in os.environ.items() if not k.startswith(foreign)}  # and their _FILE
    return env | {"MCPWALL_HOME": str(home)}


def start_stdio(home: Path, token: dict[str, str] | None = None) -> str:
    """Start ``mcpwall stdio`` once with a token that opens nothing (``token``: the variable
    that gives it); its stderr."""
    env = embedded_env(home) | {"COLUMNS": "200"}
    env |= token or {"MCPWALL_TOKEN": "not-a-token"}
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


def test_a_start_on_a_current_schema_imports_nothing_heavy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    start_stdio(home)  # creates the schema: the start measured is one of all the later ones
    done = subprocess.run(
        [sys.executable, "-c", START, str(home)],
        env=embedded_env(home), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "mcpwall.gateway.stdio" in loaded  # the command's own module graph was imported
    assert "mcpwall.adapters.counters.sql" in loaded  # and the data plane built
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY or name.startswith(HEAVY)]
    assert heavy == []


def test_the_token_from_the_file_its_file_variable_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    start_stdio(home)
    mounted = tmp_path / "token"
    mounted.write_text("not-a-token\n")
    assert start_stdio(home, {"MCPWALL_TOKEN_FILE": str(mounted)}).splitlines() == [NOT_A_GRANT]
    missing = start_stdio(home, {"MCPWALL_TOKEN_FILE": str(tmp_path / "absent")})
    assert missing.splitlines() == [
        f"error: MCPWALL_TOKEN_FILE ({tmp_path / 'absent'}): cannot read the file: "
        "No such file or directory; expected a readable UTF-8 file holding the value"
    ]

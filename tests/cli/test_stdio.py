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
    "prometheus_client",  # no metrics: nothing could read them without an HTTP endpoint
    "ruamel",  # the YAML reader of policies: the store's are JSON here
    "rich",  # the console of the other commands: stdio prints nothing of its own but errors
    "yaml",  # PyYAML, for the policy language's |yaml decoder: loaded with the first value read
    "sqlalchemy.dialects.postgresql",  # the PostgreSQL store's own SQL: not on SQLite
    "mcpwall.adapters.upstream.streamable_http",  # the HTTP upstream transports and client:
    "mcpwall.adapters.upstream.http_sse",  # loaded with the first HTTP upstream
    "mcpwall.adapters.upstream.httpclient",
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
import mcpwall.gateway.stdio  # what the command loads once its upstream is spawned
cli.get_command(click.Context(cli), "stdio")
store = open_store(None, Path(sys.argv[1]))
plane = build_data_plane(
    store, Path(sys.argv[1]), log_console=sys.stderr.buffer, metrics=False
)
loaded = sorted(sys.modules)
asyncio.run(plane.aclose())
store.close()
print(json.dumps(loaded))
"""
# What `mcpwall stdio` loads before it spawns its upstream: the command found as above, the
# upstream read from the embedded store and spawned; then what got imported, and the pid.
EARLY = """
import asyncio, json, os, sys
import click
from mcpwall.cli import cli
cli.get_command(click.Context(cli), "stdio")
from mcpwall.cli.stdio import spawn_early

async def main():
    early = await spawn_early("k8s", os.environ["MCPWALL_TOKEN"])
    loaded = sorted(sys.modules)
    pid = None if early is None else early.pid
    if early is not None:
        await early.aclose()
    print(json.dumps({"loaded": loaded, "pid": pid}))

asyncio.run(main())
"""
# What the start up to the spawn leaves to later, besides HEAVY: the store's engine, the
# policy engine, the control plane, the data plane and the gateway; the cipher of secrets at
# rest (the upstream read has none to open here) and the audit trail's types.
LATER = (
    "sqlalchemy",
    "cryptography",
    "mcpwall.core.audit",
    "mcpwall.core.policy",
    "mcpwall.control",
    "mcpwall.wiring",
    "mcpwall.gateway",
)
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


def test_the_upstream_is_spawned_before_the_store_engine_or_the_gateway_load(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    config = tmp_path / "mcpwall.json"
    script = "import sys; sys.stdin.read()"  # exits when its stdin closes
    config.write_text(
        json.dumps(
            {
                "upstreams": {"k8s": {"command": [sys.executable, "-c", script]}},
                "policies": {"open": {"version": "1", "default": "allow"}},
                "grants": [{"label": "desktop", "bind": {"k8s": "open"}}],
            }
        )
    )
    applied = subprocess.run(
        [*MCPWALL, "apply", "-f", str(config), "--pin-later"],
        env=embedded_env(home), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    token = applied.stdout.split("token desktop: ", 1)[1].split()[0]
    done = subprocess.run(
        [sys.executable, "-c", EARLY],
        env=embedded_env(home) | {"MCPWALL_TOKEN": token},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    start = json.loads(done.stdout)
    assert start["pid"] is not None  # spawned
    later = HEAVY + LATER
    loaded = [name for name in start["loaded"] if name in later or name.startswith(later)]
    assert loaded == []


# `mcpwall stdio`'s start up to its agent's first answer, in a fresh interpreter: the upstream
# spawned, the gateway built on the embedded store, `initialize` and `tools/list` answered;
# what was imported when the `tools/list` answer was written, then whether the SQL store
# opened after it (as the command's `_serve` opens it).
FIRST_ANSWER = """
import asyncio, json, os, sys
import click
from mcpwall.cli import cli
cli.get_command(click.Context(cli), "stdio")
from mcpwall.cli import stdio

def line(message):
    return json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\\n"

async def main():
    token = os.environ["MCPWALL_TOKEN"]
    early = await stdio.spawn_early("k8s", token)
    with click.Context(cli) as context:
        gateway, close = stdio._gateway("k8s", token, early)
        store = context.meta[stdio.STARTING_STORE]
        agent = asyncio.StreamReader()
        seen = {}

        async def write(data):
            answer = json.loads(data)
            if answer.get("id") == 1:
                agent.feed_data(line({"method": "notifications/initialized"}))
                agent.feed_data(line({"id": 2, "method": "tools/list", "params": {}}))
            elif answer.get("id") == 2:
                seen["tools"] = [tool["name"] for tool in answer["result"]["tools"]]
                seen["loaded"] = sorted(sys.modules)
                stdio.open_full(store)
                seen["opened"] = store.opened
                agent.feed_eof()

        hello = {"protocolVersion": "2025-11-25", "capabilities": {},
                 "clientInfo": {"name": "test", "version": "1"}}
        agent.feed_data(line({"id": 1, "method": "initialize", "params": hello}))
        try:
            await gateway.serve(agent, write)
        finally:
            await close()
            await early.aclose()
    print(json.dumps(seen))

asyncio.run(main())
"""


def test_the_first_answer_waits_for_no_sqlalchemy(tmp_path: Path) -> None:
    """The grant, the policy and the pins are read with ``sqlite3`` for the first answer
    (``adapters/store/starting.py``); SQLAlchemy loads after it."""
    from tests.fixtures.servers import FIXTURE_SERVER

    home = tmp_path / "home"
    config = tmp_path / "mcpwall.json"
    config.write_text(
        json.dumps(
            {
                "upstreams": {"k8s": {"command": [sys.executable, str(FIXTURE_SERVER), "stdio"]}},
                "policies": {
                    "seed": {
                        "version": "1",
                        "default": "deny",
                        "hide": ["env"],
                        "tools": {"echo": {}},
                    }
                },
                "grants": [{"label": "desktop", "bind": {"k8s": "seed"}}],
            }
        )
    )
    applied = subprocess.run(
        [*MCPWALL, "apply", "-f", str(config), "--pin-later"],
        env=embedded_env(home), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    token = applied.stdout.split("token desktop: ", 1)[1].split()[0]
    for _ in range(2):  # the first listing pins (a write: the SQL store); the second reads
        done = subprocess.run(
            [sys.executable, "-c", FIRST_ANSWER],
            env=embedded_env(home) | {"MCPWALL_TOKEN": token},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "echo" in seen["tools"]
    assert "env" not in seen["tools"]  # the policy applied: hidden
    assert [name for name in seen["loaded"] if name.startswith("sqlalchemy")] == []
    assert seen["opened"] is True

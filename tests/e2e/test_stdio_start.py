"""``mcpwall stdio`` spawns its upstream before it opens the store (issue 16 §3), and that
process is the one its first session uses: one process per session, as before; and a token
that opens nothing (unknown, or its grant expired) gets nothing spawned.

The upstream here is the fixture server behind a wrapper that writes its pid to a file first,
so each spawn is counted.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from mcpwall.adapters.store.embedded import DATABASE_FILE
from tests.e2e.conftest import seed_policy
from tests.e2e.harness import MCPWALL, MODES, Gateway, Mode, all_tool_names, stdio_agent
from tests.fixtures.servers import FIXTURE_SERVER

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 30.0
# argv: the file to write the pid to, then what to become (the fixture server, say).
COUNTED = (
    "import os, sys\n"
    "with open(sys.argv[1], 'a') as spawns: spawns.write(f'{os.getpid()}\\n')\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def spawned(spawns: Path) -> list[int]:
    return [int(line) for line in spawns.read_text().split()] if spawns.exists() else []


def desktop(tmp_path: Path, *becomes: str) -> tuple[Gateway, str, Path]:
    """A home with upstream ``fx``, counted, becoming ``becomes`` (its tools pinned at the
    first listing); its ``desktop`` grant's token; and the file of the pids spawned."""
    spawns = tmp_path / "spawns"
    gateway = Gateway(tmp_path / "home")
    command = [sys.executable, "-c", COUNTED, str(spawns), *becomes]
    config = {
        "upstreams": {"fx": {"command": command}},
        "policies": {"seed": seed_policy()},
        "grants": [{"label": "desktop", "bind": {"fx": "seed"}}],
    }
    gateway.home.mkdir(parents=True)
    path = tmp_path / "mcpwall.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    applied = gateway.cli("apply", "-f", str(path), "--pin-later")
    token = re.search(r"^token desktop: (\S+)$", applied, re.MULTILINE)
    assert token is not None, applied
    assert spawned(spawns) == []
    return gateway, token[1], spawns


@pytest.mark.parametrize("mode", MODES)
async def test_the_first_session_uses_the_process_spawned_at_the_start(
    tmp_path: Path, mode: Mode
) -> None:
    gateway, token, spawns = desktop(tmp_path, str(FIXTURE_SERVER), "stdio")
    client = stdio_agent("fx", token, {"MCPWALL_HOME": str(gateway.home)}, mode)
    with anyio.fail_after(TIMEOUT):
        async with client:
            listed = await all_tool_names(client)
    assert "delete_pod" in listed
    assert len(spawned(spawns)) == 1


@pytest.mark.parametrize("token", ["unknown", "expired"])
def test_a_token_that_opens_nothing_gets_nothing_spawned(tmp_path: Path, token: str) -> None:
    gateway, grant_token, spawns = desktop(tmp_path, str(FIXTURE_SERVER), "stdio")
    if token == "expired":  # expired since long ago, as the store keeps times on SQLite
        database = sqlite3.connect(gateway.home / DATABASE_FILE)
        with contextlib.closing(database), database:  # committed, then closed
            database.execute("UPDATE grants SET expires_at = '2000-01-01 00:00:00.000000'")
    done = subprocess.run(
        [MCPWALL, "stdio", "--upstream", "fx"],
        env={**gateway.env, "MCPWALL_TOKEN": grant_token if token == "expired" else "not-a-token"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "MCPWALL_TOKEN is not an active grant token" in done.stderr
    assert spawned(spawns) == []

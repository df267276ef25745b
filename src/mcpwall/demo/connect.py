"""How to point a real agent at the demo's gateway, as ``mcpwall demo --keep`` prints it.

Pure: the snippets are built from the URL, the token, the home and the ``mcpwall`` command.
The token appears here and nowhere else: ``--keep`` is the user asking for it, as ``grant
issue`` is.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

SERVER_NAME = "mcpwall-sandbox"


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the gateway serves, with what token, and how to run ``mcpwall stdio`` for it."""

    url: str  # /mcp/{upstream}: the upstream's own tool names
    token: str
    home: str
    upstream: str
    mcpwall: tuple[str, ...]  # the command that runs mcpwall

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def snippets(connection: Connection) -> list[tuple[str, str]]:
    """(where it goes, what to paste) for the agents people use."""
    url, headers = connection.url, connection.bearer
    stdio = {
        "command": connection.mcpwall[0],
        "args": [*connection.mcpwall[1:], "stdio", "--upstream", connection.upstream],
        "env": {"MCPWALL_HOME": connection.home, "MCPWALL_TOKEN": connection.token},
    }
    return [
        (
            "Claude Code",
            f"claude mcp add --transport http {SERVER_NAME} {url} "
            f'--header "Authorization: Bearer {connection.token}"',
        ),
        (
            "Cursor: ~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
            _json({"mcpServers": {SERVER_NAME: {"url": url, "headers": headers}}}),
        ),
        (
            "VS Code: .vscode/mcp.json",
            _json({"servers": {SERVER_NAME: {"type": "http", "url": url, "headers": headers}}}),
        ),
        (
            "Agents that launch a command over stdio (Claude Desktop and others)",
            _json({"mcpServers": {SERVER_NAME: stdio}}),
        ),
        (
            "Watch the wall decide, from another terminal",
            f"MCPWALL_HOME={shlex.quote(connection.home)} "
            f"{shlex.join(connection.mcpwall)} logs --follow",
        ),
    ]


def _json(value: object) -> str:
    return json.dumps(value, indent=2)

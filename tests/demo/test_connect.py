"""What ``mcpwall demo --keep`` tells a user to paste into their agent's configuration."""

from __future__ import annotations

import json
import shlex

from mcpwall.demo.connect import SERVER_NAME, Connection, snippets

CONNECTION = Connection(
    url="http://127.0.0.1:41000/mcp/k8s",
    token="mcpw_token",
    home="/tmp/mcpwall demo",
    upstream="k8s",
    mcpwall=("/venv/bin/mcpwall",),
)


def by_title() -> dict[str, str]:
    return {title.split(":")[0]: text for title, text in snippets(CONNECTION)}


def test_claude_code_gets_one_command_with_the_bearer_header() -> None:
    command = shlex.split(by_title()["Claude Code"])
    assert command == [
        "claude", "mcp", "add", "--transport", "http", SERVER_NAME,
        "http://127.0.0.1:41000/mcp/k8s", "--header", "Authorization: Bearer mcpw_token",
    ]  # fmt: skip


def test_cursor_and_vs_code_get_their_own_mcp_json_shapes() -> None:
    cursor = json.loads(by_title()["Cursor"])
    vscode = json.loads(by_title()["VS Code"])
    headers = {"Authorization": "Bearer mcpw_token"}
    assert cursor == {"mcpServers": {SERVER_NAME: {"url": CONNECTION.url, "headers": headers}}}
    assert vscode == {
        "servers": {SERVER_NAME: {"type": "http", "url": CONNECTION.url, "headers": headers}}
    }


def test_stdio_clients_launch_mcpwall_stdio_with_the_home_and_the_token() -> None:
    title = next(title for title, _ in snippets(CONNECTION) if "stdio" in title)
    server = json.loads(dict(snippets(CONNECTION))[title])["mcpServers"][SERVER_NAME]
    assert server == {
        "command": "/venv/bin/mcpwall",
        "args": ["stdio", "--upstream", "k8s"],
        "env": {"MCPWALL_HOME": "/tmp/mcpwall demo", "MCPWALL_TOKEN": "mcpw_token"},
    }


def test_a_python_m_command_keeps_its_arguments_before_stdio() -> None:
    connection = Connection(
        CONNECTION.url,
        CONNECTION.token,
        CONNECTION.home,
        "k8s",
        ("/usr/bin/python3", "-m", "mcpwall"),
    )
    title = next(title for title, _ in snippets(connection) if "stdio" in title)
    server = json.loads(dict(snippets(connection))[title])["mcpServers"][SERVER_NAME]
    assert (server["command"], server["args"]) == (
        "/usr/bin/python3",
        ["-m", "mcpwall", "stdio", "--upstream", "k8s"],
    )


def test_the_log_command_quotes_the_home() -> None:
    watch = dict(snippets(CONNECTION))["Watch the wall decide, from another terminal"]
    assert watch == "MCPWALL_HOME='/tmp/mcpwall demo' /venv/bin/mcpwall logs --follow"

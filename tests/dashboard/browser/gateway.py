"""A real ``mcpwall serve`` for the browser tests: the sandbox cluster of ``examples/seed``
behind it, admin tokens of each role, grants, and the official MCP client as the agent."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.dashboard.browser.conftest import PageLog
from tests.e2e.harness import MCPWALL, MODERN, Gateway, agent

SEED = Path(__file__).resolve().parents[3] / "examples" / "seed"


class Served:
    """The gateway, and the tokens the tests use."""

    def __init__(self, home: Path) -> None:
        path = os.pathsep.join([str(Path(MCPWALL).parent), os.environ.get("PATH", "")])
        self.gateway = Gateway(home, {"PATH": path})
        home.mkdir()
        output = self.gateway.cli("apply", "-f", str(SEED / "mcpwall.yaml"))
        [self.grant] = [
            line.split(": ")[1] for line in output.splitlines() if line.startswith("token ")
        ]
        self.admin = self.admin_token("admin")
        self.viewer = self.admin_token("viewer")
        self.manager = self.admin_token("policy_manager")
        # A policy and a grant of their own for the tests that change them.
        self.gateway.cli("policy", "set", "edited", str(SEED / "policy.json"))
        self.edited = self.gateway.issue("editor", {"k8s": "edited"})
        self.revocable = self.gateway.issue("revocable", {"k8s": "seed"})
        self.gateway.start()

    def admin_token(self, role: str) -> str:
        created = self.gateway.cli(
            "admin",
            "token",
            "create",
            "--role",
            role,
            "--label",
            role.replace("_", "-") + "-browser",
            "--json",
        )
        token = json.loads(created)["token"]
        assert isinstance(token, str)
        return token

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.gateway.admin_port}"

    def call(self, tool: str, arguments: dict[str, Any], token: str | None = None) -> Any:
        """One ``tools/call`` by the official MCP client, as an agent makes it.

        In a thread of its own: the browser's sync API holds this thread's event loop."""
        found: list[Any] = []

        async def run() -> None:
            async with agent(self.gateway.url("k8s"), token or self.grant, MODERN) as client:
                found.append(await client.call_tool(tool, arguments))

        def in_thread() -> None:
            try:
                asyncio.run(run())
            except BaseException as error:  # noqa: BLE001 (handed to the test below)
                found.append(error)

        thread = threading.Thread(target=in_thread)
        thread.start()
        thread.join(60)
        assert found, "the agent's call did not finish"
        if isinstance(found[0], BaseException):
            raise found[0]
        return found[0]


def log_in(page: Page, token: str, path: str = "/") -> None:
    page.goto(path)
    expect(page).to_have_url(f"{page.url.split('/login')[0]}/login?next={path.replace('/', '%2F')}")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def no_problems(page_log: PageLog) -> None:
    assert page_log.problems() == []

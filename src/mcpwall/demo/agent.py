"""The demo's two MCP clients, both the official SDK's ``mcp.Client`` over Streamable HTTP.

- :class:`Agent`: the scripted agent, through the wall, with its grant's token.
- :class:`Operator`: the operator's view of the cluster, straight from the sandbox and *not*
  through the wall, to show what really happened (a pod still there, a pod gone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from mcpwall.core.errors import DemoStepFailed

DECISION_META = "io.mcpwall/decision"
TIMEOUT_SECONDS = 30.0


@asynccontextmanager
async def connect(url: str, token: str | None = None) -> AsyncIterator[Client]:
    """The SDK client on ``url`` (the legacy era, as agents speak today), with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=TIMEOUT_SECONDS) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            yield client


@dataclass(frozen=True)
class Answer:
    """What came back for one ``tools/call``: a result, or a JSON-RPC error."""

    tool: str
    arguments: Mapping[str, object]
    result: CallToolResult | None = None
    error: MCPError | None = None

    @property
    def decision(self) -> Mapping[str, Any] | None:
        """The wall's ``_meta["io.mcpwall/decision"]``: present on a policy denial only."""
        meta = self.result.meta if self.result is not None else None
        found = (meta or {}).get(DECISION_META)
        return found if isinstance(found, dict) else None

    @property
    def verdict(self) -> str:
        """``denied`` (by policy), ``unknown tool`` (a JSON-RPC error) or ``allowed``."""
        if self.error is not None:
            return "unknown tool" if self.error.code == -32602 else "error"
        return "denied" if self.decision is not None else "allowed"

    @property
    def text(self) -> str:
        """The result's text, or the error as ``CODE MESSAGE``."""
        if self.error is not None:
            return f"{self.error.code} {self.error.message}"
        assert self.result is not None
        return "\n".join(c.text for c in self.result.content if isinstance(c, TextContent))

    @property
    def structured(self) -> dict[str, Any]:
        content = self.result.structured_content if self.result is not None else None
        return content or {}


@dataclass
class Agent:
    """A scripted agent's session through the wall; counts the ``tools/call`` it sends."""

    client: Client
    label: str
    calls: int = 0
    sent: set[str] = field(default_factory=set)  # the string argument values it sent

    async def tool_names(self) -> list[str]:
        names: list[str] = []
        cursor: str | None = None
        while True:
            page = await self.client.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                return names

    async def call(self, tool: str, arguments: Mapping[str, object]) -> Answer:
        self.calls += 1
        self.sent |= {value for value in arguments.values() if isinstance(value, str)}
        try:
            result = await self.client.call_tool(tool, dict(arguments))
        except MCPError as error:
            return Answer(tool, arguments, error=error)
        return Answer(tool, arguments, result=result)

    async def pods(self, namespace: str) -> list[dict[str, Any]]:
        """``list_pods`` through the wall: what the agent sees."""
        answer = await self.call("list_pods", {"namespace": namespace})
        pods: list[dict[str, Any]] = answer.structured.get("pods", [])
        return pods


@dataclass
class Operator:
    """The operator's view: the sandbox asked directly, not through the wall."""

    client: Client

    async def tool_names(self) -> list[str]:
        return [tool.name for tool in (await self.client.list_tools()).tools]

    async def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        arguments = {} if namespace is None else {"namespace": namespace}
        pods: list[dict[str, Any]] = (await self._read("list_pods", arguments))["pods"]
        return pods

    async def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((pod for pod in await self.pods(namespace) if pod["name"] == name), None)

    async def namespaces(self) -> list[str]:
        return [item["name"] for item in (await self._read("list_namespaces", {}))["namespaces"]]

    async def objects(self, kind: str) -> list[dict[str, Any]]:
        read = await self._read("list_objects", {"kind": kind})
        objects: list[dict[str, Any]] = read["objects"]
        return objects

    async def _read(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error or result.structured_content is None:
            raise DemoStepFailed(
                f"read the cluster ({tool})", "the sandbox to answer", str(result.content)
            )
        content: dict[str, Any] = result.structured_content
        return content

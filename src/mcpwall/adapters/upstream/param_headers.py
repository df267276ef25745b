"""The ``Mcp-Param-*`` headers a 2026-07-28 Streamable HTTP session sends with a ``tools/call``.

They mirror the arguments the tool's ``inputSchema`` marks with ``x-mcp-header``, so the
session needs each tool's schema: :class:`ToolHeaders` keeps the declarations it learns from
every ``tools/list`` answer the session gets (whoever asked), forgets them all when the
upstream says its list changed, and lists the tools itself — one walk at a time, however many
calls wait — when a call names a tool it has not seen. It keeps declarations only, for a
bounded number of tools.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from mcpwall.core.errors import UpstreamClosed, UpstreamError
from mcpwall.core.mcp.params import (
    Declarations,
    InvalidDeclarations,
    render_headers,
    tool_declarations,
)
from mcpwall.ports.upstream import Message

MAX_TOOLS: Final = 10_000  # declarations kept per session; the oldest make room
MAX_PAGES: Final = 100  # a walk of tools/list stops here (the gateway's own walks alike)

Lister = Callable[[str | None], Awaitable[Message]]
"""Fetches one ``tools/list`` page: its cursor (None for the first) → the response."""


class ToolHeaders:
    """The ``x-mcp-header`` declarations of one upstream's tools, as far as it has listed them."""

    def __init__(self, logger: logging.Logger, *, max_tools: int = MAX_TOOLS) -> None:
        self._logger = logger
        self._max_tools = max_tools
        # Tool name → its declarations; () also for a tool a walk did not find, or whose
        # annotations are invalid (the gateway refuses calls to those before they get here).
        self._declared: dict[str, Declarations] = {}
        self._walking = asyncio.Lock()
        self._walks = 0  # walks finished so far: a waiter whose tool one found needs none

    def learn(self, result: object) -> None:
        """Take in the tools of one ``tools/list`` result (any page)."""
        tools = result.get("tools") if isinstance(result, dict) else None
        for name, declared in tool_declarations(tools).items():
            self._remember(name, () if isinstance(declared, InvalidDeclarations) else declared)

    def forget(self) -> None:
        """Drop everything learnt (the upstream's tools changed): calls list them again."""
        self._declared.clear()

    async def for_call(
        self, params: Mapping[str, object] | None, lister: Lister, *, refresh: bool = False
    ) -> dict[str, str]:
        """The ``Mcp-Param-*`` headers for a ``tools/call`` with ``params``.

        A tool not seen yet is looked for in a fresh listing; ``refresh`` lists again even
        for a known one (the upstream said the headers sent did not match: its schema may
        have changed). A listing that fails leaves the call with the headers known so far.
        """
        name = params.get("name") if params is not None else None
        arguments = params.get("arguments") if params is not None else None
        if not isinstance(name, str):
            return {}
        if refresh:
            self._declared.pop(name, None)
        declared = self._declared.get(name)
        if declared is None:
            declared = await self._look_up(name, lister)
        return render_headers(declared, arguments if isinstance(arguments, dict) else {})

    async def _look_up(self, name: str, lister: Lister) -> Declarations:
        walks = self._walks
        async with self._walking:
            found = self._declared.get(name)
            if found is not None:
                return found
            if self._walks == walks and not await self._walked(lister):
                return ()  # no listing to go by: no headers this time, and nothing learnt
            if name not in self._declared:
                self._remember(name, ())  # a whole listing without it: no walk per call
            return self._declared[name]

    async def _walked(self, lister: Lister) -> bool:
        """List every page (learning them); whether that worked."""
        cursor: str | None = None
        seen: set[str] = set()
        try:
            for _ in range(MAX_PAGES):
                result = (await lister(cursor)).get("result")
                self.learn(result)
                following = result.get("nextCursor") if isinstance(result, dict) else None
                if not isinstance(following, str) or following in seen:
                    break
                seen.add(following)
                cursor = following
        except UpstreamClosed:
            raise
        except UpstreamError as error:
            self._logger.debug("could not list tools for Mcp-Param headers: %s", error)
            return False
        self._walks += 1
        return True

    def _remember(self, name: str, declared: Declarations) -> None:
        if name not in self._declared and len(self._declared) >= self._max_tools:
            del self._declared[next(iter(self._declared))]
        self._declared[name] = declared

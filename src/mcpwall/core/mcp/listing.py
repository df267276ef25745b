"""``tools/list`` as an agent sees it: hidden tools removed, names namespaced on ``/mcp``.

The upstream's order is kept (2026-07-28 asks servers for a deterministic order, and agents
show tools in it). On the aggregate endpoint every tool is named ``{upstream}__{tool}``:
upstream names match ``[a-z0-9][a-z0-9-]{0,62}`` and so never contain ``_``, which makes the
first ``__`` the only possible split, whatever the tool's own name contains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from mcpwall.core.errors import UnknownTool
from mcpwall.core.names import NAME_PATTERN

SEPARATOR: Final = "__"


def namespaced(upstream: str, tool: str) -> str:
    """The aggregate endpoint's name for ``tool`` of ``upstream``."""
    return f"{upstream}{SEPARATOR}{tool}"


def split_namespaced(name: str) -> tuple[str, str]:
    """(upstream, tool) for an aggregate-endpoint name; :class:`UnknownTool` when it is not one.

    Whether that upstream is bound to the grant and offers that tool is the caller's check.
    """
    upstream, separator, tool = name.partition(SEPARATOR)
    if not separator or not tool or NAME_PATTERN.fullmatch(upstream) is None:
        raise UnknownTool(name)
    return upstream, tool


def visible_tools(tools: object, is_hidden: Callable[[str], bool]) -> list[dict[str, object]]:
    """The tool definitions an agent may see, in upstream order.

    An entry that is not an object with a string ``name`` is dropped: it can't be called, and
    a policy can't be applied to it.
    """
    if not isinstance(tools, list):
        return []
    return [
        tool
        for tool in tools
        if isinstance(tool, dict)
        and isinstance(name := tool.get("name"), str)
        and not is_hidden(name)
    ]


def with_prefix(upstream: str, tools: list[dict[str, object]]) -> list[dict[str, object]]:
    """Copies of ``tools`` named for the aggregate endpoint."""
    return [{**tool, "name": namespaced(upstream, str(tool["name"]))} for tool in tools]


def tools_page(
    result: Mapping[str, object],
    is_hidden: Callable[[str], bool],
    *,
    next_cursor: str | None,
    prefix: str | None = None,
) -> dict[str, object]:
    """Our ``ListToolsResult`` for one upstream page: its members, filtered (and prefixed with
    ``prefix``'s namespace when given) tools, and our own ``next_cursor`` — never theirs."""
    tools = visible_tools(result.get("tools"), is_hidden)
    page = {key: value for key, value in result.items() if key not in ("tools", "nextCursor")}
    page["tools"] = tools if prefix is None else with_prefix(prefix, tools)
    if next_cursor is not None:
        page["nextCursor"] = next_cursor
    return page

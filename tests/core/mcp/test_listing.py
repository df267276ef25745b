"""tools/list as agents see it: hidden tools gone, upstream order kept, names namespaced."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mcpwall.core.errors import UnknownTool
from mcpwall.core.mcp import namespaced, split_namespaced, tools_page, visible_tools
from mcpwall.core.names import NAME_PATTERN


def tool(name: str) -> dict[str, object]:
    return {"name": name, "inputSchema": {"type": "object"}}


HIDDEN = {"delete_namespace", "get_secret"}


def test_filter_keeps_order_and_drops_what_cannot_be_called() -> None:
    tools = [
        tool("b"),
        tool("delete_namespace"),
        tool("a"),
        {"name": 5},
        "x",
        {"title": "no name"},
        tool("get_secret"),
        tool("c"),
    ]
    assert [t["name"] for t in visible_tools(tools, HIDDEN.__contains__)] == ["b", "a", "c"]
    assert visible_tools({"not": "a list"}, HIDDEN.__contains__) == []


def test_a_page_gets_our_cursor_never_theirs() -> None:
    upstream = {"tools": [tool("a"), tool("get_secret")], "nextCursor": "THEIRS", "_meta": {"k": 1}}
    assert tools_page(upstream, HIDDEN.__contains__, next_cursor=None) == {
        "_meta": {"k": 1},
        "tools": [tool("a")],
    }
    page = tools_page(upstream, HIDDEN.__contains__, next_cursor="OURS", prefix="k8s")
    assert page == {"_meta": {"k": 1}, "tools": [tool("k8s__a")], "nextCursor": "OURS"}
    assert upstream["tools"] == [tool("a"), tool("get_secret")]  # not modified


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("k8s__delete_pod", ("k8s", "delete_pod")),
        ("gh-2__a__b", ("gh-2", "a__b")),
        ("x__", None),
        ("__x", None),
        ("K8s__x", None),
        ("k8s_x", None),
        ("k8s", None),
        ("a_b__c", None),
    ],
)
def test_split(name: str, parts: tuple[str, str] | None) -> None:
    if parts is None:
        with pytest.raises(UnknownTool, match=f"^Unknown tool: {name}$"):
            split_namespaced(name)
    else:
        assert split_namespaced(name) == parts


upstreams = st.from_regex(NAME_PATTERN, fullmatch=True)


@given(upstreams, st.text(min_size=1))
def test_namespacing_round_trips(upstream: str, tool_name: str) -> None:
    assert split_namespaced(namespaced(upstream, tool_name)) == (upstream, tool_name)


@given(st.lists(st.text(max_size=4), max_size=12), st.sets(st.text(max_size=4), max_size=4))
def test_filtered_list_never_has_a_hidden_tool_and_keeps_order(
    names: list[str], hidden: set[str]
) -> None:
    shown = [t["name"] for t in visible_tools([tool(n) for n in names], hidden.__contains__)]
    assert not set(shown) & hidden
    assert shown == [n for n in names if n not in hidden]

"""The filter of a ``subscriptions/listen`` request, and the messages of a listen stream."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import InvalidParams
from mcpwall.core.mcp.subscriptions import (
    SUBSCRIPTION_ID_KEY,
    Interest,
    acknowledgement,
    honoured,
    parse_listen,
    tagged,
)


def updated(uri: str) -> dict[str, object]:
    return {"method": "notifications/resources/updated", "params": {"uri": uri}}


def test_a_filter_is_read_with_everything_off_by_default() -> None:
    interest = parse_listen(
        {"notifications": {"toolsListChanged": True, "resourceSubscriptions": ["a://x"]}}
    )
    assert interest == Interest(tools=True, uris=frozenset({"a://x"}))
    assert parse_listen({"notifications": {}}) == Interest()
    assert not Interest()


@pytest.mark.parametrize(
    "params",
    [None, {}, {"notifications": []}, {"notifications": {"promptsListChanged": 1}},
     {"notifications": {"resourceSubscriptions": ["a", ""]}}, {"notifications": {"resourceSubscriptions": {}}}],
)  # fmt: skip
def test_a_malformed_filter_is_invalid_params(params: dict[str, object] | None) -> None:
    with pytest.raises(InvalidParams):
        parse_listen(params)


def test_what_is_honoured_is_what_the_capabilities_deliver() -> None:
    asked = Interest(tools=True, prompts=True, resources=True, uris=frozenset({"a://x"}))
    capabilities: dict[str, object] = {
        "tools": {"listChanged": True},
        "resources": {"subscribe": True},
    }
    assert honoured(asked, capabilities) == Interest(tools=True, uris=frozenset({"a://x"}))
    assert honoured(asked, {"tools": {}}) == Interest()


def test_an_interest_hears_what_it_asked_for_and_resources_beneath_its_uris() -> None:
    interest = Interest(prompts=True, uris=frozenset({"file:///dir"}))
    assert interest.hears({"method": "notifications/prompts/list_changed"})
    assert not interest.hears({"method": "notifications/tools/list_changed"})
    assert interest.hears(updated("file:///dir"))
    assert interest.hears(updated("file:///dir/a.txt"))
    assert not interest.hears(updated("file:///directory"))
    assert not interest.hears({"method": "notifications/message", "params": {}})


def test_union_and_wire_form() -> None:
    union = Interest(tools=True) | Interest(uris=frozenset({"b", "a"}))
    assert union.to_wire() == {"toolsListChanged": True, "resourceSubscriptions": ["a", "b"]}
    ack = acknowledgement(Interest(tools=True), "listen-1")
    assert ack["params"] == {
        "_meta": {SUBSCRIPTION_ID_KEY: "listen-1"},
        "notifications": {"toolsListChanged": True},
    }


def test_a_tag_replaces_the_upstreams_own_and_keeps_the_rest() -> None:
    upstream = {"jsonrpc": "2.0", "method": "notifications/resources/updated",
                "params": {"uri": "a://x", "_meta": {SUBSCRIPTION_ID_KEY: 3, "other": 1}}}  # fmt: skip
    assert tagged(upstream, "mine") == {
        "jsonrpc": "2.0",
        "method": "notifications/resources/updated",
        "params": {"uri": "a://x", "_meta": {SUBSCRIPTION_ID_KEY: "mine", "other": 1}},
    }

"""Capabilities: advertise only what is relayed; declare upstream only what can be relayed."""

from __future__ import annotations

from mcpwall.core.mcp import Relays, server_capabilities, upstream_client_capabilities

K8S = {"tools": {"listChanged": True}, "logging": {}}
EVERYTHING = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "logging": {},
    "completions": {},
    "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
    "experimental": {"x": {}},
    "extensions": {"io.modelcontextprotocol/tasks": {}, "io.modelcontextprotocol/ui": {}},
}


def test_nothing_relayed_means_no_notification_flags() -> None:
    assert server_capabilities([EVERYTHING], Relays()) == {
        "tools": {},
        "prompts": {},
        "resources": {},
        "logging": {},
        "completions": {},
        "experimental": {"x": {}},
    }


def test_flags_where_relayed() -> None:
    relays = Relays(
        list_changed=True,
        resource_updates=True,
        extensions=frozenset({"io.modelcontextprotocol/ui", "io.modelcontextprotocol/tasks"}),
    )
    merged = server_capabilities([EVERYTHING], relays)
    assert merged["tools"] == {"listChanged": True}
    assert merged["prompts"] == {"listChanged": True}
    assert merged["resources"] == {"subscribe": True, "listChanged": True}
    assert merged["extensions"] == {"io.modelcontextprotocol/ui": {}}  # never tasks
    assert "tasks" not in merged


def test_tools_list_changed_does_not_need_the_upstream() -> None:
    # The gateway notifies policy changes itself.
    assert server_capabilities([{"tools": {}}], Relays(list_changed=True)) == {
        "tools": {"listChanged": True}
    }


def test_merging_several_upstreams() -> None:
    plain: dict[str, object] = {"tools": {}, "prompts": {}}
    merged = server_capabilities([K8S, plain], Relays(list_changed=True))
    assert merged == {"tools": {"listChanged": True}, "prompts": {}, "logging": {}}
    with_experimental = server_capabilities([EVERYTHING, plain], Relays())
    assert "experimental" not in with_experimental  # no single upstream to relay them to
    assert server_capabilities([], Relays()) == {}
    assert server_capabilities([{"tools": True}], Relays()) == {}  # malformed is absent


AGENT = {
    "roots": {"listChanged": True},
    "sampling": {"tools": {}, "context": {}, "other": 1},
    "elicitation": {"form": {}, "url": {}},
    "tasks": {"requests": {}},
    "experimental": {"y": {}},
    "extensions": {"io.modelcontextprotocol/tasks": {}},
}


def test_upstream_gets_what_can_be_relayed_for_this_agent() -> None:
    assert upstream_client_capabilities(AGENT, agent_era="legacy", upstream_era="legacy") == {
        "roots": {"listChanged": True},
        "sampling": {"context": {}, "tools": {}},
        "elicitation": {"form": {}, "url": {}},
    }
    assert upstream_client_capabilities(AGENT, agent_era="modern", upstream_era="modern") == {
        "roots": {},
        "sampling": {"context": {}, "tools": {}},
        "elicitation": {"form": {}, "url": {}},
    }


def test_no_relay_across_eras_and_nothing_undeclared() -> None:
    assert upstream_client_capabilities(AGENT, agent_era="modern", upstream_era="legacy") == {}
    assert upstream_client_capabilities(AGENT, agent_era="legacy", upstream_era="modern") == {}
    assert upstream_client_capabilities({}, agent_era="legacy", upstream_era="legacy") == {}
    assert (
        upstream_client_capabilities({"sampling": True}, agent_era="legacy", upstream_era="legacy")
        == {}
    )

"""Prompt names, resource URIs, pages and routes of the aggregate ``/mcp`` endpoint."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import InvalidParams
from mcpwall.core.mcp.aggregate import (
    LISTINGS,
    aggregate_page,
    empty_page,
    for_aggregate,
    gateway_uri,
    listed_values,
    rewrap_read,
    route,
    route_subscriptions,
    split_gateway_uri,
)

PROMPTS = LISTINGS["prompts/list"]
RESOURCES = LISTINGS["resources/list"]
TEMPLATES = LISTINGS["resources/templates/list"]


# -- the gateway's URIs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "file:///guide.md",
        "fixture://items/{item}",  # a template stays a template: the prefix is literal text
        "https://example.com/a?b=c#d",
        "mcpwall://inner/file:///x",  # an upstream that is itself a gateway
        "urn:isbn:0451450523",
        "ui://app/index.html",
    ],
)
def test_a_gateway_uri_carries_the_upstream_and_its_own_uri_unchanged(uri: str) -> None:
    wrapped = gateway_uri("docs", uri)
    assert wrapped == f"mcpwall://docs/{uri}"
    assert split_gateway_uri(wrapped) == ("docs", uri)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///guide.md",  # a raw URI
        "mcpwall://docs",  # no URI after the upstream
        "mcpwall://docs/",
        "mcpwall://Docs/file:///x",  # not an upstream name
        "mcpwall:///file:///x",
        "MCPWALL://docs/file:///x",
    ],
)
def test_anything_else_is_not_a_gateway_uri(uri: str) -> None:
    assert split_gateway_uri(uri) is None


def test_listen_subscriptions_go_to_the_upstream_their_gateway_uri_names() -> None:
    uris = [
        "mcpwall://docs/file:///a.md",
        "mcpwall://docs/file:///b.md",
        "mcpwall://k8s/k8s://pods/web",
        "mcpwall://wiki/w://x",  # an upstream that can't take them (or is not bound)
        "file:///a.md",  # a raw URI names no upstream
    ]
    assert route_subscriptions(uris, ["docs", "k8s"]) == {
        "docs": frozenset({"file:///a.md", "file:///b.md"}),
        "k8s": frozenset({"k8s://pods/web"}),
    }
    assert route_subscriptions(uris, []) == {}


# -- pages ----------------------------------------------------------------------------------------


def test_a_prompts_page_names_each_prompt_for_the_aggregate_endpoint() -> None:
    result = {
        "prompts": [{"name": "greet", "arguments": [{"name": "who"}]}, {"title": "no name"}, 7],
        "nextCursor": "their-cursor",
        "_meta": {"kept": True},
    }
    page = aggregate_page(result, PROMPTS, "fx", next_cursor="ours")
    assert page == {
        "prompts": [{"name": "fx__greet", "arguments": [{"name": "who"}]}],
        "nextCursor": "ours",
        "_meta": {"kept": True},
    }


def test_resource_and_template_pages_carry_gateway_uris_and_never_the_upstream_cursor() -> None:
    resources = {"resources": [{"uri": "fixture://static", "name": "s"}], "nextCursor": "2"}
    templates = {"resourceTemplates": [{"uriTemplate": "fixture://items/{item}", "name": "i"}]}
    assert aggregate_page(resources, RESOURCES, "fh", next_cursor=None) == {
        "resources": [{"uri": "mcpwall://fh/fixture://static", "name": "s"}]
    }
    assert aggregate_page(templates, TEMPLATES, "fh", next_cursor="ours") == {
        "resourceTemplates": [{"uriTemplate": "mcpwall://fh/fixture://items/{item}", "name": "i"}],
        "nextCursor": "ours",
    }


def test_a_page_without_a_list_is_an_empty_one() -> None:
    assert aggregate_page({"prompts": "nope"}, PROMPTS, "fx", next_cursor=None) == {"prompts": []}
    assert empty_page(TEMPLATES) == {"resourceTemplates": []}


def test_listed_values_are_the_upstream_own_spellings() -> None:
    result = {"resources": [{"uri": "a://1"}, {"uri": 2}, {"name": "x"}, {"uri": "a://2"}]}
    assert listed_values(result, RESOURCES) == ["a://1", "a://2"]
    assert listed_values(None, RESOURCES) == []


# -- routes ---------------------------------------------------------------------------------------


def test_prompts_get_goes_to_the_prefix_upstream_under_the_prompt_own_name() -> None:
    target = route("prompts/get", {"name": "fx__greet__twice", "arguments": {"who": "x"}})
    assert (target.upstream, target.params) == (
        "fx",
        {"name": "greet__twice", "arguments": {"who": "x"}},
    )


@pytest.mark.parametrize("name", ["greet", "__greet", "fx__", "Fx__greet"])
def test_a_prompt_name_without_an_upstream_is_an_unknown_prompt(name: str) -> None:
    with pytest.raises(InvalidParams, match=f"^Unknown prompt: {name}$"):
        route("prompts/get", {"name": name})


def test_a_gateway_uri_read_goes_to_its_upstream_and_its_answer_is_rewrapped() -> None:
    target = route("resources/read", {"uri": "mcpwall://fh/fixture://items/a", "_meta": {"k": 1}})
    assert (target.upstream, target.params, target.rewrap) == (
        "fh",
        {"uri": "fixture://items/a", "_meta": {"k": 1}},
        True,
    )


def test_a_raw_uri_read_is_left_to_what_the_upstreams_list() -> None:
    target = route("resources/read", {"uri": "fixture://static"})
    assert (target.upstream, target.claimed_by, target.rewrap) == (None, RESOURCES, False)
    assert target.params == {"uri": "fixture://static"}
    assert str(target.unknown()).startswith(
        "Unknown resource: fixture://static (no upstream bound to this grant lists it;"
    )
    assert "upstreams fh, fx all list it" in str(target.unknown(["fh", "fx"]))


@pytest.mark.parametrize("method", ["resources/subscribe", "resources/unsubscribe"])
def test_subscriptions_take_the_gateway_form_only(method: str) -> None:
    # An update could not say which upstream it came from otherwise.
    assert route(method, {"uri": "mcpwall://fx/fixture://static"}).params == {
        "uri": "fixture://static"
    }
    with pytest.raises(InvalidParams, match="takes a resource URI as /mcp lists it"):
        route(method, {"uri": "fixture://static"})


def test_completion_routes_by_the_prompt_or_the_template_it_names() -> None:
    prompt = route(
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "fx__greet"},
            "argument": {"name": "n", "value": ""},
        },
    )
    template = route(
        "completion/complete",
        {"ref": {"type": "ref/resource", "uri": "mcpwall://fh/fixture://items/{item}"}},
    )
    raw = route("completion/complete", {"ref": {"type": "ref/resource", "uri": "x://{y}"}})
    assert (prompt.upstream, prompt.params["ref"]) == (
        "fx",
        {"type": "ref/prompt", "name": "greet"},
    )
    assert (template.upstream, template.params["ref"]) == (
        "fh",
        {"type": "ref/resource", "uri": "fixture://items/{item}"},
    )
    assert (raw.upstream, raw.claimed_by, raw.kind) == (None, TEMPLATES, "resource template")


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("prompts/get", None, 'needs "params"'),
        ("prompts/get", {"name": 3}, 'expected "name" as a string, found number 3'),
        ("resources/read", {}, 'expected "uri" as a string, found nothing'),
        ("completion/complete", {"ref": "x"}, '"params.ref": expected an object'),
        ("completion/complete", {"ref": {"type": "ref/tool"}}, '"params.ref.type"'),
        ("completion/complete", {"ref": {"type": "ref/prompt"}}, 'expected "name"'),
    ],
)
def test_params_that_name_nothing_are_refused(
    method: str, params: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(InvalidParams, match=message):
        route(method, params)


# -- answers and notifications --------------------------------------------------------------------


def test_a_read_result_names_its_contents_as_the_agent_asked() -> None:
    result = {"contents": [{"uri": "fixture://items/a", "text": "item a"}, "odd"], "x": 1}
    assert rewrap_read(result, "fh") == {
        "contents": [{"uri": "mcpwall://fh/fixture://items/a", "text": "item a"}, "odd"],
        "x": 1,
    }
    assert rewrap_read({"no": "contents"}, "fh") == {"no": "contents"}


def test_a_resource_update_names_the_uri_the_aggregate_lists_and_nothing_else_changes() -> None:
    updated: dict[str, object] = {
        "jsonrpc": "2.0",
        "method": "notifications/resources/updated",
        "params": {"uri": "fixture://static"},
    }
    changed: dict[str, object] = {"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}
    assert for_aggregate("fx", updated)["params"] == {"uri": "mcpwall://fx/fixture://static"}
    assert for_aggregate("fx", changed) is changed

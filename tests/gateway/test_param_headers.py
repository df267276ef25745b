"""Mcp-Param-* headers at the gateway: a 2026-07-28 agent's are checked against the call's
arguments by the schema of the tool as the gateway lists it (400 and -32020 otherwise, nothing
forwarded, one proxy-log row), and tools whose x-mcp-header annotations are invalid are
dropped from every listing and refused as unknown, in both eras."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import Wired
from tests.gateway.test_http import initialize, legacy, modern_body, modern_headers

pytestmark = pytest.mark.anyio

REGION_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "shard": {"type": "integer", "x-mcp-header": "Shard"},
        "query": {"type": "string"},
    },
}
BROKEN_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"ratio": {"type": "number", "x-mcp-header": "R"}},
}
SECRET = "s3cr3t-region-value"


@pytest.fixture
def regional(wired: Wired) -> Wired:
    """``docs`` (policy: allow all) also offers ``regional``, whose ``region`` and ``shard``
    travel in headers, and ``broken``, whose annotation is invalid; ``k8s`` (the seed's
    policy) declares a header for ``delete_pod``'s namespace and the hidden ``get_secret``'s."""
    wired.connector.tools["docs"] = ["search", "regional", "broken", "read_page"]
    wired.connector.schemas.update(
        regional=REGION_SCHEMA,
        broken=BROKEN_SCHEMA,
        delete_pod={"properties": {"namespace": {"type": "string", "x-mcp-header": "Ns"}}},
        get_secret={"properties": {"name": {"type": "string", "x-mcp-header": "Name"}}},
    )
    return wired


async def call(
    wired: Wired,
    tool: str,
    arguments: Mapping[str, object],
    params: dict[str, str] | list[tuple[str, str | bytes]],
    *,
    path: str = "/mcp/docs",
    accept: str = "application/json",
) -> httpx.Response:
    body = modern_body("tools/call", {"name": tool, "arguments": arguments})
    headers: list[tuple[str, str | bytes]] = [
        (name, accept if name == "accept" else value)
        for name, value in modern_headers(wired.token, "tools/call", tool).items()
    ]
    headers += params.items() if isinstance(params, dict) else params
    raw = [
        (name.encode(), value if isinstance(value, bytes) else value.encode())
        for name, value in headers
    ]
    async with wired.client() as client:
        return await client.post(path, json=body, headers=raw)


def forwarded(wired: Wired) -> list[Any]:
    """The name and arguments of each call that reached an upstream."""
    return [
        {"name": call["params"]["name"], "arguments": call["params"]["arguments"]}
        for call in wired.connector.calls()
    ]


def refused(response: httpx.Response) -> str:
    """The -32020 message of a refusal (and that it was one)."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == -32020
    assert response.json()["id"] == 7
    message: str = error["message"]
    return message


async def test_a_call_whose_headers_say_what_its_arguments_say_is_forwarded(
    regional: Wired,
) -> None:
    arguments = {"region": "Zürich", "shard": 3, "query": "q"}
    sent = {"Mcp-Param-Region": "=?base64?WsO8cmljaA==?=", "mcp-param-shard": "3.0"}
    response = await call(regional, "regional", arguments, sent)
    assert response.status_code == 200, response.text
    assert forwarded(regional) == [{"name": "regional", "arguments": arguments}]


async def test_a_mismatched_header_is_400_and_nothing_is_forwarded(regional: Wired) -> None:
    arguments = {"region": SECRET, "shard": 3}
    sent = {"mcp-param-region": "elsewhere", "mcp-param-shard": "3"}
    message = refused(await call(regional, "regional", arguments, sent))
    assert message == (
        'the Mcp-Param-Region header does not match the value of argument "region" in the '
        "body, of type string (values are not shown)"
    )
    assert forwarded(regional) == []


@pytest.mark.parametrize(
    ("arguments", "sent", "expected"),
    [
        ({"region": "eu"}, {}, "the Mcp-Param-Region header is missing"),
        ({"query": "q"}, {"mcp-param-region": "eu"}, "is present, but the body has no value"),
        ({"region": "eu", "shard": 4}, {"mcp-param-region": "eu", "mcp-param-shard": "5"},
         "the Mcp-Param-Shard header does not match"),
        ({"region": "eu"}, [("mcp-param-region", "eu"), ("Mcp-Param-Region", "eu")],
         "the Mcp-Param-Region header was sent more than once"),
        ({"region": "eu"}, {"mcp-param-region": "=?base64?ZXU?="}, "is malformed"),
        ({"region": "é"}, [("mcp-param-region", "é".encode())], "is malformed"),
    ],
)  # fmt: skip
async def test_every_kind_of_difference_is_refused(
    regional: Wired,
    arguments: dict[str, object],
    sent: dict[str, str] | list[tuple[str, str | bytes]],
    expected: str,
) -> None:
    assert expected in refused(await call(regional, "regional", arguments, sent))
    assert forwarded(regional) == []


async def test_the_refusal_is_logged_with_keys_and_never_values(regional: Wired) -> None:
    arguments = {"region": SECRET, "query": SECRET}
    await call(regional, "regional", arguments, {"mcp-param-region": SECRET + "-changed"})
    [row] = regional.sink.records
    assert (row.method, row.upstream, row.tool, row.decision, row.rule, row.outcome) == (
        "tools/call", "docs", "regional", "deny", "(header mismatch)", "not_forwarded"
    )  # fmt: skip
    assert row.message.startswith("the Mcp-Param-Region header does not match")
    assert row.argument_keys == ("query", "region")
    assert SECRET not in repr(row)


async def test_a_refusal_is_plain_json_even_to_an_agent_that_accepts_a_stream(
    regional: Wired,
) -> None:
    response = await call(
        regional, "regional", {"region": "eu"}, {}, accept="application/json, text/event-stream"
    )
    assert "is missing" in refused(response)


async def test_headers_no_schema_declares_are_ignored(regional: Wired) -> None:
    sent = {"mcp-param-region": "eu", "mcp-param-query": "not the query", "mcp-param-x": "1"}
    response = await call(regional, "regional", {"region": "eu", "query": "q"}, sent)
    assert response.status_code == 200, response.text
    plain = await call(regional, "search", {"q": "x"}, {"mcp-param-q": "anything"})
    assert plain.status_code == 200, plain.text
    assert len(forwarded(regional)) == 2


async def test_the_aggregate_endpoint_checks_by_the_schema_it_lists(regional: Wired) -> None:
    arguments = {"region": "eu"}
    mismatched = await call(
        regional, "docs__regional", arguments, {"mcp-param-region": "us"}, path="/mcp"
    )
    assert "does not match" in refused(mismatched)
    matched = await call(
        regional, "docs__regional", arguments, {"mcp-param-region": "eu"}, path="/mcp"
    )
    assert matched.status_code == 200, matched.text
    assert forwarded(regional) == [{"name": "regional", "arguments": arguments}]


async def test_a_denied_call_is_denied_whatever_its_headers_say(regional: Wired) -> None:
    # The policy decides on the body and a denial never reaches the upstream, so its headers
    # are not looked at.
    arguments = {"name": "web-1", "namespace": "prod"}
    response = await call(
        regional, "delete_pod", arguments, {"mcp-param-ns": "dev"}, path="/mcp/k8s"
    )
    assert response.status_code == 200
    assert response.json()["result"]["isError"] is True
    assert regional.connector.sessions == []


async def test_a_hidden_tool_is_unknown_whatever_its_headers_say(regional: Wired) -> None:
    response = await call(
        regional, "get_secret", {"name": "x"}, {"mcp-param-name": "y"}, path="/mcp/k8s"
    )
    assert response.status_code == 400
    assert response.json()["error"] == {"code": -32602, "message": "Unknown tool: get_secret"}


async def test_an_allowed_call_on_a_policy_upstream_is_checked_too(regional: Wired) -> None:
    arguments = {"name": "web-1", "namespace": "staging"}
    bad = await call(regional, "delete_pod", arguments, {"mcp-param-ns": "dev"}, path="/mcp/k8s")
    assert "Mcp-Param-Ns" in refused(bad)
    good = await call(
        regional, "delete_pod", arguments, {"mcp-param-ns": "staging"}, path="/mcp/k8s"
    )
    assert good.status_code == 200, good.text
    assert forwarded(regional) == [{"name": "delete_pod", "arguments": arguments}]


async def test_a_legacy_session_has_no_headers_to_check(regional: Wired) -> None:
    async with regional.client() as client:
        session = await initialize(client, "/mcp/docs", regional.token)
        answer = await legacy(client, "/mcp/docs", regional.token, session, "tools/call",
                              {"name": "regional", "arguments": {"region": "eu"}})  # fmt: skip
    assert "result" in answer
    assert len(forwarded(regional)) == 1


# -- tools with invalid annotations --------------------------------------------------------------


async def test_a_tool_with_invalid_annotations_is_dropped_from_every_listing(
    regional: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mcpwall.gateway")
    async with regional.client() as client:
        session = await initialize(client, "/mcp/docs", regional.token)
        legacy_list = await legacy(client, "/mcp/docs", regional.token, session, "tools/list")
        modern_list = await client.post(
            "/mcp/docs",
            json=modern_body("tools/list"),
            headers=modern_headers(regional.token, "tools/list"),
        )
        aggregate = await client.post(
            "/mcp",
            json=modern_body("tools/list"),
            headers=modern_headers(regional.token, "tools/list"),
        )
    assert [t["name"] for t in legacy_list["result"]["tools"]] == [
        "search",
        "regional",
        "read_page",
    ]
    assert [t["name"] for t in modern_list.json()["result"]["tools"]] == [
        "search", "regional", "read_page"
    ]  # fmt: skip
    assert "docs__broken" not in [t["name"] for t in aggregate.json()["result"]["tools"]]
    assert "docs__regional" in [t["name"] for t in aggregate.json()["result"]["tools"]]
    dropped = [r for r in caplog.records if "broken" in r.getMessage()]
    assert [r.levelno for r in dropped][:1] == [logging.WARNING]  # then DEBUG, not every time
    assert all(r.levelno == logging.DEBUG for r in dropped[1:])
    assert 'upstream docs: tool "broken" is dropped' in dropped[0].getMessage()
    assert '"/properties/ratio" is on a property of type "number"' in dropped[0].getMessage()


async def test_a_call_to_a_dropped_tool_is_an_unknown_tool_in_both_eras(regional: Wired) -> None:
    modern = await call(regional, "broken", {"ratio": 0.5}, {"mcp-param-r": "0.5"})
    assert modern.status_code == 400
    assert modern.json()["error"] == {"code": -32602, "message": "Unknown tool: broken"}
    async with regional.client() as client:
        session = await initialize(client, "/mcp/docs", regional.token)
        answer = await legacy(client, "/mcp/docs", regional.token, session, "tools/call",
                              {"name": "broken", "arguments": {}})  # fmt: skip
    assert answer["error"] == {"code": -32602, "message": "Unknown tool: broken"}
    assert forwarded(regional) == []
    calls = [row for row in regional.sink.records if row.method == "tools/call"]
    assert [row.rule for row in calls] == ["(unknown tool)", "(unknown tool)"]

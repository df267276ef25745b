"""The proxy log's rows through the real pipeline: every kind of decision carries the rule
pointer that made it, and no row holds an argument value."""

from __future__ import annotations

import asyncio
import gc
import json
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mcpwall.core.errors import ProtocolError
from mcpwall.core.jsonrpc import Request
from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.gateway.grants import Binding, Principal
from mcpwall.gateway.pipeline import Caller
from mcpwall.ports.upstream import Message, Receiver
from tests.gateway.conftest import SEED, FakeSession, Wired, answer_requests
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = pytest.mark.anyio

CANARY = "canary-7f3a9c1e"


async def call(wired: Wired, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    async with wired.client() as client:
        body = modern_body("tools/call", {"name": tool, "arguments": arguments})
        response = await client.post(
            "/mcp/k8s", json=body, headers=modern_headers(token, "tools/call", tool)
        )
    assert response.status_code in (200, 400), response.text  # 400: an unknown (hidden) tool
    return response.json()


def last(wired: Wired) -> ProxyLogRecord:
    return wired.sink.records[-1]


@pytest.mark.parametrize(
    ("tool", "arguments", "decision", "rule", "outcome"),
    [
        ("delete_pod", {"namespace": "staging", "name": CANARY}, "allow", "(allowed)", "ok"),
        ("list_pods", {"namespace": CANARY}, "allow", "(allowed)", "ok"),
        ("delete_pod", {"namespace": "prod", "name": CANARY}, "deny",
         "/tools/delete_pod/require/0/conditions/0", "not_forwarded"),
        ("apply_manifest", {"namespace": "dev", "kind": "Namespace", "manifest": CANARY}, "deny",
         "/tools/apply_manifest/require/0/conditions/1", "not_forwarded"),
        ("delete_namespace", {"name": CANARY}, "deny", "(hidden)", "not_forwarded"),
    ],
)  # fmt: skip
async def test_each_decision_names_its_rule(
    wired: Wired, tool: str, arguments: dict[str, Any], decision: str, rule: str, outcome: str
) -> None:
    await call(wired, wired.token, tool, arguments)
    row = last(wired)
    assert (row.method, row.tool, row.decision, row.rule, row.outcome) == (
        "tools/call", tool, decision, rule, outcome
    )  # fmt: skip
    assert (row.grant_label, row.upstream, row.policy, row.policy_version) == (
        "alice", "k8s", "seed", 1
    )  # fmt: skip
    assert row.argument_keys == tuple(sorted(arguments))
    assert CANARY not in repr(wired.sink.records)


async def test_shadow_mode_logs_would_deny_and_forwards(wired: Wired) -> None:
    shadow = {**json.loads(SEED), "mode": "shadow"}
    wired.plane.set_policy("seed-shadow", json.dumps(shadow), actor="t")
    token = wired.plane.issue_grant("shadowed", {"k8s": "seed-shadow"}, actor="t").token
    await call(wired, token, "delete_pod", {"namespace": "prod", "name": CANARY})
    row = last(wired)
    assert (row.decision, row.rule, row.outcome, row.grant_label) == (
        "would_deny", "/tools/delete_pod/require/0/conditions/0", "ok", "shadowed"
    )  # fmt: skip
    assert CANARY not in repr(row)


async def test_default_deny_and_limits_name_their_rules(wired: Wired) -> None:
    strict = '{"version": "1", "default": "deny", "tools": {"list_pods": {}}}'
    wired.plane.set_policy("strict", strict, actor="t")
    token = wired.plane.issue_grant("strict-agent", {"k8s": "strict"}, actor="t").token
    await call(wired, token, "exec_pod", {"namespace": "dev"})
    assert (last(wired).decision, last(wired).rule) == ("deny", "(default deny)")
    for _ in range(6):
        await call(wired, wired.token, "delete_pod", {"namespace": "dev", "name": "p"})
    assert (last(wired).decision, last(wired).rule) == ("deny", "/tools/delete_pod/limits/0")


async def test_a_binding_without_a_usable_policy_logs_no_policy(wired: Wired) -> None:
    principal = Principal("grt_00000000000000aa", "orphan", None, {"k8s": Binding("gone", None)})
    caller = Caller(principal, "k8s", "orphan", "modern", "2026-07-28")
    request = Request(9, "tools/call", {"name": "delete_pod", "arguments": {"name": CANARY}})
    answer: Any = await wired.gateway.pipeline.handle(caller, request)
    assert answer["result"]["isError"] is True
    row = last(wired)
    assert (row.decision, row.rule, row.policy, row.policy_version) == (
        "deny", "(no policy)", "gone", 0
    )  # fmt: skip
    assert (row.request_id, row.argument_keys) == ("9", ("name",))


async def test_other_methods_are_logged_without_a_decision(wired: Wired) -> None:
    async with wired.client() as client:
        response = await client.post(
            "/mcp/k8s",
            json=modern_body("tools/list"),
            headers=modern_headers(wired.token, "tools/list"),
        )
    assert response.status_code == 200
    row = last(wired)
    assert (row.method, row.tool, row.decision, row.rule, row.outcome) == (
        "tools/list", "", "", "", "ok"
    )  # fmt: skip


# -- requests refused before any decision still get their row ------------------------------------


async def post(wired: Wired, path: str, body: object, headers: list[tuple[str, str]]) -> Any:
    async with wired.client() as client:
        return await client.post(path, content=json.dumps(body), headers=headers)


@pytest.mark.parametrize(
    ("arguments_or_name", "rule"),
    [
        ({"name": 42, "arguments": {"secret": CANARY}}, "(bad request)"),
        ({"name": "delete_pod", "arguments": [CANARY]}, "(bad request)"),
    ],
)
async def test_a_malformed_call_is_logged_as_a_bad_request(
    wired: Wired, arguments_or_name: dict[str, Any], rule: str
) -> None:
    name = arguments_or_name["name"]
    headers = modern_headers(wired.token, "tools/call", name if isinstance(name, str) else None)
    body = modern_body("tools/call", arguments_or_name)
    response = await post(wired, "/mcp/k8s", body, list(headers.items()))
    assert response.json()["error"]["code"] == -32602
    row = last(wired)
    assert (row.method, row.decision, row.rule, row.outcome) == (
        "tools/call", "deny", rule, "not_forwarded"
    )  # fmt: skip
    assert row.message == "JSON-RPC error -32602"
    assert (row.grant_label, row.upstream, row.request_id) == ("alice", "k8s", "7")
    assert CANARY not in repr(row)
    assert wired.connector.calls() == []


async def test_a_routing_header_that_disagrees_with_the_body_is_logged(wired: Wired) -> None:
    headers = modern_headers(wired.token, "tools/call", "list_pods")
    body = modern_body("tools/call", {"name": "delete_pod", "arguments": {"namespace": CANARY}})
    response = await post(wired, "/mcp/k8s", body, list(headers.items()))
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32020)
    row = last(wired)
    assert (row.method, row.tool, row.rule, row.outcome) == (
        "tools/call", "delete_pod", "(header mismatch)", "not_forwarded"
    )  # fmt: skip
    assert "Mcp-Name" in row.message
    assert CANARY not in repr(row)


@pytest.mark.parametrize("header", ["mcp-method", "mcp-name", "mcp-protocol-version"])
async def test_a_repeated_routing_header_is_refused_and_logged(wired: Wired, header: str) -> None:
    headers = list(modern_headers(wired.token, "tools/call", "list_pods").items())
    headers.append((header, dict(headers)[header]))  # the same value twice: still refused
    body = modern_body("tools/call", {"name": "list_pods", "arguments": {"namespace": "dev"}})
    response = await post(wired, "/mcp/k8s", body, headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32020)
    assert "more than once" in response.json()["error"]["message"]
    assert last(wired).rule == "(header mismatch)"
    assert wired.connector.calls() == []


async def test_a_request_for_an_unbound_upstream_is_logged(wired: Wired) -> None:
    headers = modern_headers(wired.token, "tools/call", "read")
    body = modern_body("tools/call", {"name": "read", "arguments": {"path": CANARY}})
    response = await post(wired, "/mcp/vault", body, list(headers.items()))
    assert response.status_code == 403
    row = last(wired)
    assert (row.upstream, row.method, row.decision, row.rule, row.outcome) == (
        "vault", "tools/call", "deny", "(no binding)", "not_forwarded"
    )  # fmt: skip
    assert CANARY not in repr(row)


async def test_an_unreadable_body_is_logged_without_its_content(wired: Wired) -> None:
    headers = modern_headers(wired.token, "tools/call", "list_pods")
    async with wired.client() as client:
        response = await client.post(
            "/mcp/k8s",
            content=b'{"jsonrpc": "2.0", "id": 1, "x": "' + CANARY.encode(),
            headers=headers,
        )
    assert response.status_code in (400, 200)
    row = last(wired)
    assert (row.rule, row.outcome) == ("(bad request)", "not_forwarded")
    assert CANARY not in repr(row)


async def test_what_builds_a_record_later_holds_no_argument_value(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call's record is made off the answer's way back (``write_later``); until then the
    queue holds what builds it, which must not keep an argument's value alive."""
    builders: list[Any] = []
    write_later = wired.sink.write_later

    async def capture(build: Any) -> None:
        builders.append(build)
        await write_later(build)

    monkeypatch.setattr(wired.sink, "write_later", capture)
    await call(wired, wired.token, "delete_pod", {"namespace": "staging", "name": CANARY})
    assert len(builders) == 1
    build = builders[0]
    held = [*build.args, *build.keywords.values()]  # a functools.partial of build_record
    assert held  # it does hold the rest of the record
    assert not any(CANARY in text for text in reachable_strings(held))
    assert last(wired).argument_keys == ("name", "namespace")


CODE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def reachable_strings(roots: list[Any], limit: int = 200_000) -> list[str]:
    """Every string reachable from ``roots`` through data (not through code: a function's
    globals lead to every module, this one's CANARY included), bounded."""
    seen: set[int] = set()
    found: list[str] = []
    stack = list(roots)
    while stack and len(seen) < limit:
        item = stack.pop()
        if id(item) in seen or isinstance(item, CODE):
            continue
        seen.add(id(item))
        if isinstance(item, str):
            found.append(item)
        else:
            stack.extend(gc.get_referents(item))
    return found


# -- every request leaves exactly one row, whatever ends it --------------------------------------


def block_upstream(monkeypatch: pytest.MonkeyPatch, methods: set[str]) -> asyncio.Event:
    """Have every fake upstream session wait for ever on ``methods`` (as a tool that runs
    long would); the event is set once one of them is waiting."""
    waiting = asyncio.Event()

    async def never(
        session: FakeSession,
        method: str,
        params: Mapping[str, object] | None,
        _related: Receiver | None,
    ) -> Message:
        session.calls.append({"method": method, "params": params})
        waiting.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    answer_requests(monkeypatch, methods, never)
    return waiting


def seed_caller(wired: Wired) -> Caller:
    principal = wired.gateway.grants.authenticate_sync(wired.token)
    assert principal is not None
    return Caller(principal, "k8s", "owner", "legacy", "2025-11-25")


@pytest.mark.parametrize(
    ("blocked", "method", "params", "row"),
    [
        ({"tools/call"}, "tools/call", {"name": "delete_pod", "arguments": {"namespace": "staging", "name": CANARY}},
         ("tools/call", "delete_pod", "allow", "(allowed)", "cancelled")),
        ({"tools/list"}, "tools/call", {"name": "delete_pod", "arguments": {"namespace": "staging", "name": CANARY}},
         ("tools/call", "delete_pod", "allow", "(allowed)", "cancelled")),
        ({"tools/list"}, "tools/list", {}, ("tools/list", "", "", "", "cancelled")),
        ({"resources/read"}, "resources/read", {"uri": f"file:///{CANARY}"}, ("resources/read", "", "", "", "cancelled")),
        ({"prompts/get"}, "prompts/get", {"name": CANARY}, ("prompts/get", "", "", "", "cancelled")),
    ],
)  # fmt: skip
async def test_a_request_cancelled_anywhere_leaves_exactly_one_row(
    wired: Wired,
    monkeypatch: pytest.MonkeyPatch,
    blocked: set[str],
    method: str,
    params: dict[str, Any],
    row: tuple[str, ...],
) -> None:
    waiting = block_upstream(monkeypatch, blocked)
    handling = asyncio.ensure_future(
        wired.gateway.pipeline.handle(seed_caller(wired), Request(3, method, params))
    )
    await waiting.wait()
    handling.cancel()  # the agent cancelled it, went away, or ended its session
    with pytest.raises(asyncio.CancelledError):
        await handling
    [record] = wired.sink.records
    assert (record.method, record.tool, record.decision, record.rule, record.outcome) == row
    assert (record.request_id, record.upstream) == ("3", "k8s")
    assert CANARY not in repr(record)


async def test_a_cancelled_call_keeps_its_rate_limit_unit(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = block_upstream(monkeypatch, {"tools/call"})
    caller = seed_caller(wired)
    call: dict[str, object] = {
        "name": "delete_pod",
        "arguments": {"namespace": "staging", "name": CANARY},
    }
    for n in range(5):  # the seed allows five deletes an hour per grant
        waiting.clear()
        handling = asyncio.ensure_future(
            wired.gateway.pipeline.handle(caller, Request(n, "tools/call", call))
        )
        await waiting.wait()
        handling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handling
    sixth: Any = await wired.gateway.pipeline.handle(caller, Request(6, "tools/call", call))
    assert (
        sixth["result"]["content"][0]["text"]
        == "[POLICY DENIED] Pod deletion limit exceeded for this grant."
    )
    assert [r.outcome for r in wired.sink.records] == ["cancelled"] * 5 + ["not_forwarded"]


@pytest.mark.parametrize(
    ("method", "params", "rule", "outcome"),
    [
        ("tools/list", {"cursor": CANARY}, "(bad request)", "not_forwarded"),  # a forged cursor
        ("Tools/Call", {"name": "delete_namespace"}, "(bad request)", "not_forwarded"),
        ("ping", {}, "", "not_forwarded"),
    ],
)
async def test_requests_that_end_without_an_upstream_answer_leave_one_row(
    wired: Wired, method: str, params: dict[str, Any], rule: str, outcome: str
) -> None:
    try:
        answer: Any = await wired.gateway.pipeline.handle(
            seed_caller(wired), Request(4, method, params)
        )
    except ProtocolError:  # answered as a JSON-RPC error by the transport
        assert rule == "(bad request)"
    else:
        assert answer == {"result": {}}
    [record] = wired.sink.records
    assert (record.method, record.rule, record.outcome) == (method, rule, outcome)


async def test_a_fault_of_the_gateway_still_leaves_its_row(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> Message:
        raise RuntimeError("a bug")

    monkeypatch.setattr(wired.gateway.pipeline, "forward", broken)
    with pytest.raises(RuntimeError):
        await wired.gateway.pipeline.handle(seed_caller(wired), Request(5, "prompts/list", {}))
    [record] = wired.sink.records
    assert (record.method, record.outcome) == ("prompts/list", "protocol_error")


@pytest.mark.parametrize(
    ("http_method", "headers", "body", "status"),
    [
        ("POST", {"mcp-session-id": "forged"}, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, 404),
        ("POST", {}, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, 400),  # no session yet
        ("GET", {}, None, 400),
        ("DELETE", {}, None, 400),
    ],
)  # fmt: skip
async def test_a_request_refused_by_the_transport_still_leaves_its_row(
    wired: Wired, http_method: str, headers: dict[str, str], body: object, status: int
) -> None:
    auth = {"authorization": f"Bearer {wired.token}", "accept": "application/json"}
    async with wired.client() as client:
        content = None if body is None else json.dumps(body)
        response = await client.request(
            http_method, "/mcp/k8s", content=content, headers=auth | headers
        )
    assert response.status_code == status
    [record] = wired.sink.records
    assert (record.grant_label, record.upstream, record.rule) == ("alice", "k8s", "(bad request)")
    assert record.message.startswith(f"HTTP {status}: ")
    assert record.method == ("tools/list" if body else "")


async def test_a_body_over_the_limit_of_a_known_grant_leaves_its_row(wired: Wired) -> None:
    auth = {"authorization": f"Bearer {wired.token}", "accept": "application/json"}
    async with wired.client() as client:
        response = await client.post("/mcp/k8s", content=b" " * (4 * 1024 * 1024 + 1), headers=auth)
    assert response.status_code == 413
    [record] = wired.sink.records
    assert (record.grant_label, record.upstream, record.rule) == ("alice", "k8s", "(bad request)")
    assert record.message == "HTTP 413: body of 4194305 bytes is over the limit of 4194304"


async def test_a_get_on_the_2026_era_and_a_malformed_initialize_leave_their_rows(
    wired: Wired,
) -> None:
    auth = {"authorization": f"Bearer {wired.token}", "accept": "application/json"}
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": 3}}
    async with wired.client() as client:
        got = await client.get("/mcp/k8s", headers=auth | {"mcp-protocol-version": "2026-07-28"})
        bad = await client.post("/mcp/k8s", content=json.dumps(hello), headers=auth)
    assert (got.status_code, bad.status_code) == (405, 200)
    assert [(r.method, r.rule) for r in wired.sink.records] == [
        ("", "(bad request)"),
        ("initialize", "(bad request)"),
    ]


MANIFEST_POLICY = (
    Path(__file__).resolve().parents[1]
    / "core"
    / "policy"
    / "cases"
    / "kubernetes-manifests.policy.json"
)


@pytest.mark.parametrize(
    ("manifest", "rule", "message"),
    [
        (f"kind: ConfigMap\nmetadata: {{name: {CANARY}, namespace: payments-prod}}\n",
         "/tools/kubectl_apply/require/2/conditions/0",
         "Every document of the manifest must set metadata.namespace to dev, staging or sandbox."),
        (f"kind: ConfigMap\nmetadata: {{name: {CANARY}, name: {CANARY}}}\n",
         "/tools/kubectl_apply/require/2/conditions/0",
         'argument "manifest" could not be read as YAML: duplicate key "name" at line 2'),
        (f"kind: ConfigMap\nmetadata: {{name: {CANARY}\n",
         "/tools/kubectl_apply/require/2/conditions/0",
         "argument \"manifest\" could not be read as YAML: did not find expected ',' or '}' "
         "at line 3, column 1"),
    ],
)  # fmt: skip
async def test_decoded_values_never_reach_the_log(
    wired: Wired, manifest: str, rule: str, message: str
) -> None:
    """A manifest the policy reads inside is logged like any call: its key, never its text."""
    wired.plane.set_policy("manifests", MANIFEST_POLICY.read_text(), actor="t")
    token = wired.plane.issue_grant("applier", {"k8s": "manifests"}, actor="t").token
    reply = await call(wired, token, "kubectl_apply", {"namespace": "dev", "manifest": manifest})
    assert reply["result"]["content"][0]["text"] == "[POLICY DENIED] " + message
    row = last(wired)
    assert (row.decision, row.rule, row.message) == ("deny", rule, message)
    assert row.argument_keys == ("manifest", "namespace")
    assert CANARY not in repr(wired.sink.records)


async def test_a_tool_name_of_any_length_gets_its_usual_answer_and_a_bounded_row(
    wired: Wired,
) -> None:
    """The agent is answered as for any unknown tool, with its own name; the row keeps the
    name cut to 256 characters (``core.proxylog.storable``), which every store can index."""
    name = "".join(chr(0x20000 + (n * 7919) % 0xA6DF) for n in range(5000))
    request = Request(7, "tools/call", {"name": name, "arguments": {"a": CANARY}})
    with pytest.raises(ProtocolError) as refused:
        await wired.gateway.pipeline.handle(seed_caller(wired), request)
    assert (refused.value.code, str(refused.value)) == (-32602, f"Unknown tool: {name}")
    row = last(wired)
    assert (row.tool, row.decision, row.rule, row.outcome) == (
        name[:255] + "…", "deny", "(unknown tool)", "not_forwarded"
    )  # fmt: skip

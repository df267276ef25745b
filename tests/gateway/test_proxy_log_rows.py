"""The proxy log's rows through the real pipeline: every kind of decision carries the rule
pointer that made it, and no row holds an argument value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcpwall.core.jsonrpc import Request
from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.gateway.grants import Binding, Principal
from mcpwall.gateway.pipeline import Caller
from tests.gateway.conftest import SEED, Wired
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

"""bench/side_by_side.py's pieces that can be wrong without a stopwatch: the seed's policy as
the peer's rules must decide every call as mcpwall does, its limits must travel (or not) with
the variant, and the echo must answer a JSON-RPC tool result."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from itertools import product
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mcpwall.core.policy import compile_policy, evaluate, load_policy

BENCH = Path(__file__).resolve().parents[2] / "bench"
SEED = json.loads((BENCH.parent / "tests/core/policy/cases/seed.policy.json").read_text())


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    """``bench/side_by_side.py`` as a module (bench/ is not a package; its modules import each
    other by name)."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("side_by_side")
    finally:
        sys.path.remove(str(BENCH))


def peer_allows(policy: Mapping[str, Any], tool: str, args: Mapping[str, object]) -> bool:
    """The peer's documented semantics, for the operators the translation emits: rules first
    match wins, every constraint of ``when`` must hold, a missing argument fails a constraint."""
    for rule in policy["rules"]:
        if tool not in rule["tools"]:
            continue
        if all(holds(args, path, c) for path, c in rule.get("when", {}).items()):
            return bool(rule["effect"] == "allow")
    return bool(policy["default"] == "allow")


def holds(args: Mapping[str, object], path: str, constraint: Mapping[str, Any]) -> bool:
    name = path.removeprefix("args.")
    if name not in args:
        return False
    ((operator, operand),) = constraint.items()
    value = args[name]
    return {"in": value in operand, "not_in": value not in operand}[operator]


TOOLS = ["delete_pod", "get_pod_logs", "apply_manifest", "scale_deployment", "exec_pod",
         "get_secret", "delete_namespace", "delete_deployment"]  # fmt: skip
NAMESPACES: list[str | None] = ["dev", "staging", "payments-prod", None]
KINDS: list[str | None] = ["Deployment", "ClusterRole", None]


@pytest.mark.parametrize("limited", [True, False])
def test_the_peer_policy_decides_every_call_as_the_seed_does(
    bench: ModuleType, limited: bool
) -> None:
    seed = compile_policy(load_policy(json.dumps(SEED).encode()))
    policy, _ = bench.peer_policy(SEED, limited=limited)
    for tool, namespace, kind in product(TOOLS, NAMESPACES, KINDS):
        args = {"name": "p"}
        args |= {"namespace": namespace} if namespace is not None else {}
        args |= {"kind": kind} if kind is not None else {}
        expected = evaluate(seed, tool, args).decision == "allow"
        assert peer_allows(policy, tool, args) == expected, (tool, args)


def test_the_limit_travels_with_the_limited_variant_only(bench: ModuleType) -> None:
    limited, buckets = bench.peer_policy(SEED, limited=True)
    unlimited, none = bench.peer_policy(SEED, limited=False)
    assert none == {}
    assert buckets == {
        "delete_pod": {"rate": bench.NEVER_REFUSES, "per": "1h", "burst": bench.NEVER_REFUSES,
                       "scope": "token"}
    }  # fmt: skip
    [rule] = [r for r in limited["rules"] if r.get("rate_limits")]
    assert (rule["tools"], rule["effect"]) == (["delete_pod"], "allow")
    assert not any(r.get("rate_limits") for r in unlimited["rules"])


def test_the_mcpwall_variants_compile_and_keep_or_drop_the_limit(bench: ModuleType) -> None:
    for limited in (True, False):
        policy = compile_policy(
            load_policy(json.dumps(bench.mcpwall_policy(SEED, limited=limited)))
        )
        decision = evaluate(policy, "delete_pod", {"name": "p", "namespace": "dev"})
        assert decision.decision == "allow"
        assert [limit.max for limit in decision.limits] == (
            [bench.NEVER_REFUSES] if limited else []
        )


def test_the_echo_answers_a_json_rpc_tool_result(bench: ModuleType) -> None:
    incoming = [{"type": "http.request", "body": b"{", "more_body": True},
                {"type": "http.request", "body": b"}", "more_body": False}]  # fmt: skip
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(bench.echo_app({"type": "http"}, receive, send))
    assert incoming == []  # the whole request was read
    start, body = sent
    assert start["status"] == 200
    assert (b"content-length", str(len(body["body"])).encode()) in start["headers"]
    answer = json.loads(body["body"])
    assert answer["jsonrpc"] == "2.0"
    assert answer["result"]["isError"] is True

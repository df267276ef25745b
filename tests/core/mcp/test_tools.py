"""tools/call: reading the call, and refusals exactly as DESIGN §4 describes them."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import InvalidParams, UnknownTool
from mcpwall.core.mcp import (
    DECISION_META_KEY,
    ToolCall,
    check_offered,
    denial_result,
    parse_tool_call,
    refusal,
)
from mcpwall.core.policy import compile_policy, evaluate
from mcpwall.core.policy.model import HIDDEN, Decision


def test_reading_a_call() -> None:
    assert parse_tool_call({"name": "get_pod", "arguments": {"a": 1}}) == ToolCall(
        "get_pod", {"a": 1}
    )
    assert parse_tool_call({"name": "get_pod"}) == ToolCall("get_pod", {})
    assert parse_tool_call({"name": "", "_meta": {}}).arguments == {}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (None, 'tools/call needs "params" with the tool\'s "name" (found no params)'),
        ({}, '"params.name": expected the tool name as a string, found nothing'),
        ({"name": 5}, '"params.name": expected the tool name as a string, found number 5'),
        ({"name": None}, "found null"),
        ({"name": ["get_pod"]}, 'found array ["get_pod"]'),
        ({"name": "x", "arguments": None}, '"params.arguments": expected an object, found null'),
        ({"name": "x", "arguments": [1]}, "found array [1]"),
        ({"name": "x", "arguments": '{"a": 1}'}, "found string"),
    ],
)
def test_bad_calls_are_invalid_params(params: dict[str, object] | None, message: str) -> None:
    with pytest.raises(InvalidParams) as refused:
        parse_tool_call(params)
    assert refused.value.code == -32602
    assert message in refused.value.message


OFFERED = frozenset({"get_pod", "delete_pod", "delete_namespace"})


@pytest.mark.parametrize(
    "name",
    [
        "Delete_Namespace",
        "delete_namespace ",
        " delete_namespace",
        "delete_namespace\n",
        "DELETE_NAMESPACE",
        "nope",
    ],
)
def test_names_are_compared_exactly(name: str) -> None:
    with pytest.raises(UnknownTool) as refused:
        check_offered(name, OFFERED)
    assert refused.value.message == f"Unknown tool: {name}"
    assert refused.value.code == -32602


def test_a_near_miss_of_a_hidden_tool_reads_like_any_unknown_tool() -> None:
    policy = compile_policy({"version": "1", "default": "allow", "hide": ["delete_namespace"]})
    hidden = evaluate(policy, "delete_namespace", {})
    near = "Delete_Namespace"
    assert evaluate(policy, near, {}).decision == "allow"  # the policy compares exactly…
    with pytest.raises(UnknownTool) as by_policy:
        refusal(hidden, "delete_namespace", policy="p", version=1)
    with pytest.raises(UnknownTool) as by_offer:
        check_offered(near, OFFERED)  # …and the gateway offers only exact names
    assert by_policy.value.code == by_offer.value.code
    assert by_policy.value.message.replace("delete_namespace", near) == by_offer.value.message


def test_denial_result() -> None:
    decision = Decision(
        "deny",
        "/tools/delete_pod/require/0/conditions/0",
        "Namespace is outside the allowed non-production set.",
    )
    assert refusal(decision, "delete_pod", policy="seed", version=3) == {
        "content": [
            {
                "type": "text",
                "text": "[POLICY DENIED] Namespace is outside the allowed non-production set.",
            }
        ],
        "isError": True,
        "_meta": {
            DECISION_META_KEY: {
                "rule": "/tools/delete_pod/require/0/conditions/0",
                "policy": "seed",
                "version": 3,
            }
        },
    }


def test_a_limit_denial_says_when_to_retry() -> None:
    decision = Decision(
        "deny",
        "/tools/delete_pod/limits/0",
        "Pod deletion limit exceeded for this grant.",
        retry_after_s=12.5,
    )
    result = denial_result(decision, policy="seed", version=1)
    assert result["_meta"] == {
        DECISION_META_KEY: {
            "rule": "/tools/delete_pod/limits/0",
            "policy": "seed",
            "version": 1,
            "retry_after_s": 12.5,
        }
    }


def test_hidden_is_unknown() -> None:
    with pytest.raises(UnknownTool, match=r"^Unknown tool: get_secret$"):
        refusal(Decision("deny", HIDDEN, "hidden"), "get_secret", policy="p", version=1)

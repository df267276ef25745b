"""Lint warnings: valid shapes that fail open or never apply."""

from __future__ import annotations

from collections.abc import Mapping

from mcpwall.core.policy import compile_policy


def warnings_of(tools: Mapping[str, object], **top: object) -> list[str]:
    policy = compile_policy({"version": "1", "default": "allow", "tools": tools, **top})
    return [str(warning) for warning in policy.warnings]


def cond(path: str, op: str, value: object) -> dict[str, object]:
    return {"path": path, "op": op, "value": value}


def test_the_seed_policy_has_no_warnings() -> None:
    tools = {
        "delete_pod": {
            "require": [{"conditions": [cond("args.namespace", "in", ["dev", "staging"])]}]
        }
    }
    assert warnings_of(tools, hide=["get_secret"]) == []


def test_an_unanchored_regex_in_require_is_flagged() -> None:
    tools = {"run": {"require": [{"conditions": [cond("args.cmd", "regex", "npm test")]}]}}
    [warning] = warnings_of(tools)
    assert warning.startswith(
        '/tools/run/require/0/conditions/0/value: regex "npm test" in require is not anchored'
    )


def test_anchored_regexes_are_not_flagged() -> None:
    for pattern in ("^dev-", "^(dev|staging)$", "(?i)^dev", r"\Adev", r"^[|]x$", r"^a\|b$"):
        tools = {"run": {"require": [{"conditions": [cond("args.ns", "regex", pattern)]}]}}
        assert warnings_of(tools) == [], pattern


def test_a_top_level_alternation_is_flagged_even_when_anchored() -> None:
    tools = {"run": {"require": [{"conditions": [cond("args.ns", "regex", "^dev|staging$")]}]}}
    [warning] = warnings_of(tools)
    assert 'has a top-level "|"' in warning


def test_an_unanchored_regex_in_deny_if_is_fine() -> None:
    # In deny_if, "contains a match anywhere" is exactly what a blocklist wants.
    tools = {"run": {"deny_if": [{"conditions": [cond("args.cmd", "regex", "rm -rf")]}]}}
    assert warnings_of(tools) == []


def test_a_deny_if_that_can_never_fire_is_flagged() -> None:
    contradictions = [
        [cond("args.n", "eq", "a"), cond("args.n", "eq", "b")],
        [cond("args.n", "in", ["a", "b"]), cond("args.n", "not_in", ["a", "b"])],
        [cond("args.n", "in", [])],
        [cond("args.n", "gt", 5), cond("args.n", "lte", 5)],
        [cond("args.n", "gte", 5), cond("args.n", "lt", 5)],
        [cond("args.n", "exists", False), cond("args.n", "eq", 1)],
        [cond("args.n", "exists", False), cond("args.n.m", "eq", 1)],
        [cond("args.n", "eq", "text"), cond("args.n.m", "exists", True)],
        [cond("args.n", "regex", "^a"), cond("args.n", "gt", 1)],
        [cond("args.n", "eq", 3), cond("args.n", "lt", 1)],
    ]
    for conditions in contradictions:
        [warning] = warnings_of({"t": {"deny_if": [{"conditions": conditions}]}})
        assert warning.startswith("/tools/t/deny_if/0: this deny_if can never fire"), conditions


def test_satisfiable_deny_ifs_are_not_flagged() -> None:
    satisfiable = [
        [cond("args.n", "gte", 5), cond("args.n", "lte", 5)],
        [cond("args.n", "in", ["a", "b"]), cond("args.n", "neq", "a")],
        [cond("args.n", "exists", True), cond("args.n.m", "eq", 1)],
        [cond("args.n", "contains", "x"), cond("args.n", "regex", "y")],
        [cond("args.a", "eq", 1), cond("args.b", "eq", 2)],
        [],
    ]
    for conditions in satisfiable:
        assert warnings_of({"t": {"deny_if": [{"conditions": conditions}]}}) == [], conditions


def test_deny_ifs_after_an_unconditional_one_are_flagged() -> None:
    entries = [{"conditions": []}, {"conditions": [cond("args.force", "eq", True)]}]
    [warning] = warnings_of({"t": {"deny_if": entries}})
    assert (
        warning
        == "/tools/t/deny_if/1: this deny_if can never fire: /tools/t/deny_if/0 always fires first"
    )


def test_a_require_that_can_never_pass_is_flagged() -> None:
    tools = {"t": {"require": [{"conditions": [cond("args.n", "in", [])]}]}}
    [warning] = warnings_of(tools)
    assert "can never pass" in warning
    assert "every call is denied" in warning


def test_a_hidden_tool_with_rules_is_flagged() -> None:
    tools = {"get_secret": {"deny_if": [{"conditions": []}]}, "other": {"limits": [
        {"counter": "c", "max": 1, "window": "hour"}]}}  # fmt: skip
    assert warnings_of(tools, hide=["get_secret"]) == [
        "/tools/get_secret: the tool is hidden, so its rules and limits never apply"
    ]
    assert len(warnings_of(tools, hide=["*"])) == 2


def test_duplicate_hides_and_zero_limits_are_flagged() -> None:
    found = warnings_of(
        {"t": {"limits": [{"counter": "c", "max": 0, "window": "hour"}]}},
        hide=["x", "x"],
        all_tools={"limits": [{"counter": "all", "max": 0, "window": "day"}]},
    )
    assert found == [
        '/hide/1: "x" is already hidden',
        "/all_tools/limits/0/max: max is 0, so this limit denies every call "
        "(a deny_if with no conditions says that plainly)",
        "/tools/t/limits/0/max: max is 0, so this limit denies every call "
        "(a deny_if with no conditions says that plainly)",
    ]


def test_a_star_in_deny_if_without_match_any_is_flagged() -> None:
    star = "args.spec.containers.*.securityContext.privileged"
    for extra in ({}, {"match": "all"}):
        condition = {**cond(star, "eq", True), **extra}
        [warning] = warnings_of({"t": {"deny_if": [{"conditions": [condition]}]}})
        assert warning.startswith(
            '/tools/t/deny_if/0/conditions/0: "*" in deny_if without "match": "any": '
            f'"{star}" fires only when every element matches'
        ), extra
    any_of = {**cond(star, "eq", True), "match": "any"}
    assert warnings_of({"t": {"deny_if": [{"conditions": [any_of]}]}}) == []


def test_a_star_in_require_is_not_flagged() -> None:
    tools = {"t": {"require": [{"conditions": [cond("args.items.*.ns", "in", ["dev"])]}]}}
    assert warnings_of(tools) == []


def test_a_decoder_in_deny_if_is_flagged_naming_require_as_the_closed_form() -> None:
    condition = {**cond("args.manifest|yaml_all.*.kind", "eq", "Secret"), "match": "any"}
    [warning] = warnings_of({"t": {"deny_if": [{"conditions": [condition]}]}})
    assert warning.startswith(
        '/tools/t/deny_if/0/conditions/0/path: decoder "|yaml_all" in deny_if:'
    )
    assert "require is the closed form" in warning


def test_a_star_and_a_decoder_in_deny_if_get_both_warnings() -> None:
    condition = cond("args.command|shell.*", "eq", "--force")
    warnings = warnings_of({"t": {"deny_if": [{"conditions": [condition]}]}})
    assert [w.split(": ", 1)[0] for w in warnings] == [
        "/tools/t/deny_if/0/conditions/0",
        "/tools/t/deny_if/0/conditions/0/path",
    ]


def test_decoders_in_require_are_not_flagged_and_regex_anchoring_still_is() -> None:
    tools = {"t": {"require": [{"conditions": [
        cond("args.manifest|yaml_all.*.metadata.namespace", "in", ["dev"]),
        cond("args.command|shell.0", "regex", "kubectl"),
    ]}]}}  # fmt: skip
    [warning] = warnings_of(tools)
    assert warning.startswith('/tools/t/require/0/conditions/1/value: regex "kubectl" in require')


def test_satisfiability_leaves_paths_that_look_inside_alone() -> None:
    # One element may be "a" and another "b"; a string argument may still be decoded.
    conditions = [
        {**cond("args.items.*", "eq", "a"), "match": "any"},
        {**cond("args.items.*", "eq", "b"), "match": "any"},
        cond("args.config", "regex", "^mode"),
        cond("args.config|yaml.mode", "exists", True),
    ]
    found = warnings_of({"t": {"deny_if": [{"conditions": conditions}]}})
    assert not any("can never fire" in warning for warning in found)

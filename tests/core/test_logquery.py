"""The pure parts of the proxy log: bounded fields, filters, the summary's order, JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mcpwall.core import jsonpointer
from mcpwall.core.errors import InvalidValue
from mcpwall.core.logquery import (
    CATEGORIES,
    LogFilter,
    TimelineRow,
    category,
    record_json,
    summarize,
    timeline,
)
from mcpwall.core.policy.compile import MAX_NAME_LENGTH
from mcpwall.core.proxylog import (
    MAX_RULE_BYTES,
    MAX_TEXT,
    argument_keys,
    build_record,
    storable,
    storable_rule,
)
from tests.adapters.proxylog.records import START, record


def test_argument_keys_are_sorted_bounded_and_never_values() -> None:
    assert argument_keys({"b": "secret", "a": {"deep": "secret"}}) == ("a", "b")
    assert argument_keys(["not", "an", "object"]) == ()
    many = argument_keys({f"k{n:04d}": n for n in range(300)})
    assert len(many) == 256
    assert many[-1] == "…(45 more)"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("delete_pod", "delete_pod"),
        ("a\x00b", "a\ufffdb"),
        ("\ud800x", "?x"),
        ("tab\there", "tab\there"),
    ],
)
def test_names_are_made_storable(text: str, kept: str) -> None:
    assert storable(text) == kept


def test_long_names_are_cut() -> None:
    cut = storable("x" * 1000)
    assert len(cut) == MAX_TEXT
    assert cut.endswith("…")


def wide(count: int) -> str:
    """``count`` four-byte characters, varied (PostgreSQL compresses a repeated one)."""
    return "".join(chr(0x20000 + (n * 7919) % 0xA6DF) for n in range(count))


def test_every_rule_a_policy_can_make_is_kept_whole() -> None:
    longest = jsonpointer.join("/tools", wide(MAX_NAME_LENGTH), "require", 99999, "conditions", 9)
    slashes = jsonpointer.join("/tools", "/~" * (MAX_NAME_LENGTH // 2), "deny_if", 99999)
    for rule in (longest, slashes, "(default deny)", "/all_tools/limits/0", ""):
        assert storable_rule(rule) == rule


def test_a_rule_past_its_bytes_is_cut_with_a_mark() -> None:
    rule = wide(5000)
    cut = storable_rule(rule)
    assert len(cut.encode()) <= MAX_RULE_BYTES
    assert cut.endswith("…")
    assert rule.startswith(cut[:-1])  # whole characters, none cut in two
    assert storable_rule("x" * MAX_RULE_BYTES) == "x" * MAX_RULE_BYTES
    assert storable_rule("a\x00b\ud800") == "a\ufffdb?"


def test_a_record_bounds_the_tool_and_the_rule() -> None:
    made = build_record(
        at=START, request_id=1, grant_id="grt_0000000000000000", grant_label="alice",
        upstream="k8s", method="tools/call", tool=wide(5000), decision="deny", rule=wide(5000),
        outcome="not_forwarded",
    )  # fmt: skip
    assert len(made.tool) == MAX_TEXT
    assert len(made.tool.encode()) <= 4 * MAX_TEXT
    assert len(made.rule.encode()) <= MAX_RULE_BYTES
    assert made.tool.endswith("…")
    assert made.rule.endswith("…")


def test_filters_refuse_bad_values() -> None:
    with pytest.raises(InvalidValue, match="decision"):
        LogFilter(decision="denied")
    with pytest.raises(InvalidValue, match="limit"):
        LogFilter(limit=0)


def test_the_summary_puts_denials_first_then_the_most_frequent() -> None:
    log = [
        record(1, decision="allow", rule="(allowed)"),
        record(2, decision="allow", rule="(allowed)"),
        record(3, decision="would_deny", rule="/tools/delete_pod/deny_if/0"),
        record(4, rule="(hidden)"),
        record(5, tool="exec_pod", rule="(default deny)"),
        record(6, tool="exec_pod", rule="(default deny)"),
        record(7, method="tools/list"),
        record(0, at=START - timedelta(days=1), rule="(hidden)"),  # before since
    ]
    rows = summarize(log, START)
    assert [(r.tool, r.rule, r.count) for r in rows] == [
        ("exec_pod", "(default deny)", 2),
        ("delete_pod", "(hidden)", 1),
        ("delete_pod", "/tools/delete_pod/deny_if/0", 1),
        ("delete_pod", "(allowed)", 2),
    ]
    assert rows[0].last_seen == START + timedelta(seconds=6)


def test_the_json_form_has_every_field_and_the_id() -> None:
    value = record_json(record(3), 42)
    assert list(value)[:2] == ["id", "at"]
    assert value["at"] == "2026-01-01T00:00:03.000000+00:00"
    assert value["argument_keys"] == ["name", "namespace"]
    assert "id" not in record_json(record(3))


@pytest.mark.parametrize(
    ("decision", "rule", "outcome", "expected"),
    [
        ("", "", "ok", None),
        ("deny", "/tools/delete_pod/limits/0", "not_forwarded", "limited"),
        ("deny", "/all_tools/limits/12", "not_forwarded", "limited"),
        ("deny", "/tools/limits/deny_if/0", "not_forwarded", "denied"),  # a tool named limits
        ("deny", "/tools/delete_pod/limits/x", "not_forwarded", "denied"),
        ("deny", "(hidden)", "not_forwarded", "denied"),
        ("allow", "(allowed)", "ok", "allowed"),
        ("allow", "(allowed)", "tool_error", "allowed"),
        ("allow", "(allowed)", "cancelled", "allowed"),
        ("allow", "(allowed)", "timeout", "errors"),
        ("would_deny", "/tools/delete_pod/deny_if/0", "unreachable", "errors"),
        ("would_deny", "/tools/delete_pod/deny_if/0", "ok", "would_deny"),
    ],
)
def test_each_decided_call_falls_in_one_category(
    decision: str, rule: str, outcome: str, expected: str | None
) -> None:
    assert category(decision, rule, outcome) == expected
    assert expected is None or expected in CATEGORIES


def test_a_timeline_counts_each_call_in_its_bucket_once() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    at = [since, since + timedelta(seconds=3599, microseconds=999_999), since + timedelta(hours=1)]
    records = [record(0, at=moment) for moment in at]
    rows = timeline(records, since, since + timedelta(hours=2), 3600)
    assert rows == [TimelineRow(0, "denied", 2), TimelineRow(1, "denied", 1)]
    refused_initialize = record(0, at=since)._replace(method="initialize", rule="(no binding)")
    assert timeline([*records, refused_initialize], since, since + timedelta(hours=2), 3600) == rows
    with pytest.raises(InvalidValue, match="whole buckets"):
        timeline(records, since, since + timedelta(minutes=90), 3600)
    with pytest.raises(InvalidValue, match="whole seconds"):
        timeline(records, since + timedelta(microseconds=1), since + timedelta(hours=2), 3600)

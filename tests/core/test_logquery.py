"""The pure parts of the proxy log: bounded fields, filters, the summary's order, JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mcpwall.core.errors import InvalidValue
from mcpwall.core.logquery import LogFilter, record_json, summarize
from mcpwall.core.proxylog import MAX_TEXT, argument_keys, storable
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

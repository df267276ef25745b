"""The proxy-log views: filters in the URL, cursor pages, one row in full, the export."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from mcpwall.core.registry import Role
from tests.dashboard.conftest import SEED_POLICY, Dashboard


def row_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="row-(\d+)"', html)]


def test_rows_come_newest_first_filtered_as_the_url_says(dashboard: Dashboard) -> None:
    dashboard.write(
        dashboard.record(tool="delete_pod", decision="deny"),
        dashboard.record(tool="get_pods", decision="allow", rule="(allowed)"),
        dashboard.record(tool="delete_pod", decision="allow", grant_label="other"),
    )
    browser = dashboard.logged_in(Role.VIEWER)
    assert row_ids(browser.get("/logs").text) == [3, 2, 1]
    assert row_ids(browser.get("/logs?decision=deny").text) == [1]
    assert row_ids(browser.get("/logs?tool=delete_pod").text) == [3, 1]
    assert row_ids(browser.get("/logs?grant=other&tool=delete_pod").text) == [3]
    # The form shows the filters it was given, so a reload shows the same view.
    page = browser.get("/logs?tool=delete_pod&since=7d").text
    assert 'name="tool" value="delete_pod"' in page
    assert '<option value="7d" selected>' in page


def test_rows_older_than_since_are_left_out(dashboard: Dashboard) -> None:
    dashboard.write(dashboard.record(request_id="old"))
    dashboard.clock.advance(2 * 3600)
    dashboard.write(dashboard.record(request_id="new"))
    browser = dashboard.logged_in(Role.VIEWER)
    assert row_ids(browser.get("/logs?since=1h").text) == [2]
    assert row_ids(browser.get("/logs?since=24h").text) == [2, 1]


def test_pages_go_back_by_cursor_and_htmx_gets_the_results_only(dashboard: Dashboard) -> None:
    dashboard.write(*(dashboard.record(request_id=str(n)) for n in range(120)))
    browser = dashboard.logged_in(Role.VIEWER)
    first = browser.get("/logs").text
    assert row_ids(first) == list(range(120, 70, -1))
    older = re.search(r'href="/logs\?([^"]*before=(\d+)[^"]*)"', first)
    assert older is not None
    assert older.group(2) == "71"
    second = browser.htmx(f"/logs?{older.group(1).replace('&amp;', '&')}")
    assert second.text.lstrip().startswith('<section id="results"')
    assert "<html" not in second.text
    assert row_ids(second.text) == list(range(70, 20, -1))


@pytest.mark.parametrize(
    "query", ["since=forever", "decision=maybe", "grant=Not%20A%20Label", "before=-1"]
)
def test_a_bad_filter_is_named_and_shows_no_rows(dashboard: Dashboard, query: str) -> None:
    dashboard.write(dashboard.record())
    answer = dashboard.logged_in(Role.VIEWER).get(f"/logs?{query}")
    assert answer.status_code == 422
    assert 'class="error"' in answer.text
    assert row_ids(answer.text) == []


def test_a_row_in_full_shows_the_policy_text_its_rule_points_at(dashboard: Dashboard) -> None:
    dashboard.control.set_policy("seed", SEED_POLICY.read_text(), actor="t")
    dashboard.write(dashboard.record(argument_keys=("name", "namespace")))
    page = dashboard.logged_in(Role.VIEWER).get("/logs/1").text
    pointed = dashboard.control.compiled_policy("seed", 1).document
    condition = pointed["tools"]["delete_pod"]["require"][0]["conditions"][0]  # type: ignore[index]
    assert json.dumps(condition["path"]) in page.replace("&#34;", '"')
    assert "<code>namespace</code>" in page
    assert "values are never recorded" in page


def test_a_rule_that_is_not_a_pointer_is_explained(dashboard: Dashboard) -> None:
    dashboard.write(dashboard.record(rule="(hidden)", tool="delete_namespace"))
    page = dashboard.logged_in(Role.VIEWER).get("/logs/1").text
    assert "the policy hides this tool" in page


def test_an_unknown_row_is_not_found(dashboard: Dashboard) -> None:
    dashboard.write(dashboard.record())
    browser = dashboard.logged_in(Role.VIEWER)
    assert browser.get("/logs/2").status_code == 404
    assert browser.get("/logs/x").status_code == 422


def test_the_export_holds_exactly_the_filtered_rows(dashboard: Dashboard) -> None:
    dashboard.write(
        *(dashboard.record(request_id=str(n), decision="deny" if n % 3 else "allow")
          for n in range(2500))
    )  # fmt: skip
    browser = dashboard.logged_in(Role.VIEWER)
    answer = browser.get("/logs/export?decision=deny&format=jsonl")
    assert answer.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in answer.headers["content-disposition"]
    lines = [json.loads(line) for line in answer.text.splitlines()]
    expected = [n + 1 for n in range(2499, -1, -1) if n % 3]
    assert [line["id"] for line in lines] == expected
    assert {line["decision"] for line in lines} == {"deny"}
    table = list(csv.DictReader(io.StringIO(browser.get("/logs/export?format=csv").text)))
    assert len(table) == 2500
    assert table[0]["argument_keys"] == "name namespace"


def test_a_formula_in_a_csv_cell_is_defused(dashboard: Dashboard) -> None:
    dashboard.write(dashboard.record(tool='=HYPERLINK("http://evil")'))
    text = dashboard.logged_in(Role.VIEWER).get("/logs/export?format=csv").text
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["tool"].startswith("'=")


def test_an_unknown_export_format_is_refused(dashboard: Dashboard) -> None:
    answer = dashboard.logged_in(Role.VIEWER).get("/logs/export?format=xlsx")
    assert answer.status_code == 422
    assert "jsonl or csv" in answer.text


def test_a_long_rule_filters_as_the_log_keeps_it(dashboard: Dashboard) -> None:
    long_rule = "/tools/" + "t" * 600 + "/require/0/conditions/0"
    dashboard.write(dashboard.record(rule=long_rule), dashboard.record())
    browser = dashboard.logged_in(Role.VIEWER)
    answer = browser.get("/logs", params={"rule": long_rule})
    assert answer.status_code == 200
    assert row_ids(answer.text) == [1]

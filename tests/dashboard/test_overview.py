"""The overview: counts by category, the guardrails that fired with links to their rows,
the most refused tools and grants, and each upstream's calls."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from mcpwall.core.registry import Role, Upstream
from tests.dashboard.conftest import Dashboard

RULE = "/tools/delete_pod/require/0/conditions/0"


def test_the_cards_count_the_last_day_in_each_category(dashboard: Dashboard) -> None:
    dashboard.clock.advance(3600 * 30)
    record = dashboard.record
    dashboard.write(
        record(decision="deny"),
        record(decision="deny"),
        record(decision="deny", rule="/all_tools/limits/0"),
        record(decision="allow", rule="(allowed)", outcome="ok"),
        record(decision="allow", rule="(allowed)", outcome="timeout"),
        record(decision="would_deny", rule="/tools/delete_pod/deny_if/0", outcome="ok"),
        record(decision="", rule="", method="tools/list", tool=""),
        record(decision="deny", at=dashboard.clock.now() - timedelta(days=2)),
    )
    page = dashboard.logged_in(Role.VIEWER).get("/").text
    cards = {
        kind: int(count)
        for count, kind in re.findall(
            r'class="value cat-text-\w+">([\d,]+)</span> ([\w ]+)</li>', page
        )[:5]
    }
    assert cards == {"allowed": 1, "denied": 2, "would deny": 1, "limited": 1, "errors": 1}
    assert 'role="img"' in page
    assert '<title id="hourly-title">' in page


def test_each_guardrail_links_to_exactly_its_rows(dashboard: Dashboard) -> None:
    dashboard.write(
        dashboard.record(tool="delete_pod"),
        dashboard.record(tool="delete_pod"),
        dashboard.record(tool="get_pods", decision="allow", rule="(allowed)"),
        dashboard.record(tool="delete_pod", rule="(hidden)"),
    )
    browser = dashboard.logged_in(Role.VIEWER)
    page = browser.get("/").text
    links = [
        unescape(link) for link in re.findall(r'<a href="(/logs\?[^"]*rule=[^"]*)"><code>', page)
    ]
    assert len(links) == 2  # two guardrails: the namespace rule, and (hidden); no allows
    [namespace_rule] = [link for link in links if "conditions" in link]
    rows = re.findall(r'<tr id="row-(\d+)"', browser.get(namespace_rule).text)
    assert rows == ["2", "1"]


def test_the_most_refused_tools_and_grants_are_listed(dashboard: Dashboard) -> None:
    dashboard.write(
        *[dashboard.record(tool="delete_pod", grant_label="alice")] * 3,
        *[dashboard.record(tool="drain_node", grant_label="bob")] * 2,
    )
    page = dashboard.logged_in(Role.VIEWER).get("/").text
    assert re.search(
        r"<code>delete_pod</code></a>: 3</li><li>.*<code>drain_node</code></a>: 2", page
    )
    assert "grant=alice" in page


def test_each_upstream_shows_its_calls_and_unanswered_ones(dashboard: Dashboard) -> None:
    dashboard.control.store.add_upstream(Upstream.stdio("kubernetes", "npx"), actor="t")
    dashboard.write(
        dashboard.record(decision="allow", rule="(allowed)", outcome="unreachable"),
        dashboard.record(decision="allow", rule="(allowed)", outcome="ok"),
    )
    page = dashboard.logged_in(Role.VIEWER).get("/").text
    row = re.search(
        r'<a href="/upstreams/kubernetes">kubernetes</a></td>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>',
        page,
    )
    assert row is not None
    assert row.groups() == ("2", "1")


def test_an_empty_gateway_says_so(dashboard: Dashboard) -> None:
    page = dashboard.logged_in(Role.VIEWER).get("/").text
    assert "No call was refused in the last 7 days." in page
    assert "No upstream yet" in page

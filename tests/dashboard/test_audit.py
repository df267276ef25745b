"""The audit trail page: newest first, filtered on who, what and which object, by the URL."""

from __future__ import annotations

import re
from html import unescape

from mcpwall.core.registry import Role, Upstream
from tests.dashboard.conftest import SEED_POLICY, Dashboard


def actions(html: str) -> list[str]:
    return re.findall(r"<td><a href=\"[^\"]*\"><code>([\w.]+)</code></a></td>", html)


def setup(dashboard: Dashboard) -> None:
    control = dashboard.control
    control.store.add_upstream(Upstream.stdio("kubernetes", "npx"), actor="cli:alice")
    control.set_policy("seed", SEED_POLICY.read_text(), actor="cli:alice")
    control.issue_grant("ci-runner", {"kubernetes": "seed"}, actor="cli:bob")
    control.store.revoke_grant("ci-runner", actor="cli:bob")


def test_events_come_newest_first_and_filter_by_the_url(dashboard: Dashboard) -> None:
    setup(dashboard)
    browser = dashboard.logged_in(Role.VIEWER)
    everything = actions(browser.get("/audit").text)
    assert everything[:4] == ["dashboard.login", "grant.revoke", "grant.issue", "policy.set"]
    assert actions(browser.get("/audit?actor=cli:bob").text) == ["grant.revoke", "grant.issue"]
    assert actions(browser.get("/audit?action=grant").text) == ["grant.revoke", "grant.issue"]
    assert actions(browser.get("/audit?action=grant.issue").text) == ["grant.issue"]
    assert actions(browser.get("/audit?object_kind=upstream&object_id=kubernetes").text) == [
        "upstream.add"
    ]
    page = browser.get("/audit?actor=cli:bob").text
    assert 'name="actor" value="cli:bob"' in page


def test_each_value_in_a_row_links_to_its_own_events(dashboard: Dashboard) -> None:
    setup(dashboard)
    browser = dashboard.logged_in(Role.VIEWER)
    page = browser.get("/audit?action=policy").text
    links = {unescape(href) for href in re.findall(r'href="(/audit\?[^"]+)"', page)}
    assert "/audit?action=policy&actor=cli%3Aalice" in links
    assert "/audit?action=policy&object_kind=policy&object_id=seed" in links
    assert actions(browser.get("/audit?action=policy&actor=cli%3Aalice").text) == ["policy.set"]


def test_a_bad_filter_is_named_and_shows_nothing(dashboard: Dashboard) -> None:
    setup(dashboard)
    answer = dashboard.logged_in(Role.VIEWER).get("/audit?action=grant.explode")
    assert answer.status_code == 422
    assert "action" in answer.text
    assert actions(answer.text) == []


def test_htmx_gets_the_events_only(dashboard: Dashboard) -> None:
    setup(dashboard)
    answer = dashboard.logged_in(Role.VIEWER).htmx("/audit?actor=cli:bob")
    assert answer.text.lstrip().startswith('<div id="events">')
    assert "<form" not in answer.text

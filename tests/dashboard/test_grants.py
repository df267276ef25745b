"""The grants page: every grant with its bindings and the usage of its limits; issuing,
rotating and revoking (admins only), each through the control plane and into the audit trail,
a new token shown once and never again."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import pytest
from markupsafe import escape

from mcpwall.adapters.counters import SQLCounters
from mcpwall.core.audit import AuditEvent
from mcpwall.core.errors import LimitsUnavailable
from mcpwall.core.registry import Grant, Role, Upstream
from mcpwall.core.windows import Budget, budgets_for
from mcpwall.dashboard.views.grants import NO_COUNTERS
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import CounterStore, MemoryCounters, Refusal, Reservation
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.wiring import open_counters
from tests.dashboard.conftest import SEED_POLICY, Dashboard, make_dashboard, open_test_store

ROLES = list(Role)
LOWER_ROLES = [Role.VIEWER, Role.POLICY_MANAGER]
FOREIGN = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}

# all_tools first; a tool's own limit shared by every grant on the upstream; a hidden tool's
# limit, which never applies and so is not shown.
READS_POLICY = json.dumps(
    {
        "version": "1",
        "default": "allow",
        "hide": ["get_secret"],
        "all_tools": {
            "limits": [{"counter": "all", "max": 600, "window": "hour", "scope": "grant"}]
        },
        "tools": {
            "list_pods": {
                "limits": [{"counter": "reads", "max": 10, "window": "minute", "scope": "upstream"}]
            },
            "get_secret": {
                "limits": [{"counter": "secrets", "max": 1, "window": "day", "scope": "global"}]
            },
        },
    }
)


@pytest.fixture(params=["memory", "sqlite"])
def dash(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dashboard]:
    """A dashboard with the counter store ``mcpwall serve`` would open on its store, two
    upstreams and two policies."""
    clock = FakeClock()
    store = open_test_store(request.param, tmp_path, clock)
    counters = open_counters(store, {})
    assert isinstance(counters, MemoryCounters if request.param == "memory" else SQLCounters)
    made = make_dashboard(store, clock, counters)
    seed(made)
    yield made
    anyio.run(counters.aclose)
    store.close()


def seed(dashboard: Dashboard) -> None:
    store, control = dashboard.control.store, dashboard.control
    store.add_upstream(Upstream.stdio("k8s", "kubectl-mcp"), actor="cli:root")
    store.add_upstream(Upstream.stdio("github", "github-mcp"), actor="cli:root")
    control.set_policy("seed", SEED_POLICY.read_text(), actor="cli:root")
    control.set_policy("reads", READS_POLICY, actor="cli:root")


def issue(dashboard: Dashboard, label: str, **bindings: str) -> tuple[Grant, str]:
    issued = dashboard.control.issue_grant(label, bindings or {"k8s": "seed"}, actor="cli:root")
    return issued.grant, issued.token


def budget(dashboard: Dashboard, policy: str, tool: str, grant: Grant, upstream: str) -> Budget:
    """The budget the gateway reserves for ``tool``'s first limit on a call of ``grant``."""
    [limit] = dashboard.control.compiled_policy(policy).tools[tool].limits[:1]
    [made] = budgets_for([limit], grant.id, upstream)
    return made


def reserve(dashboard: Dashboard, budgets: Sequence[Budget], times: int) -> None:
    assert dashboard.counters is not None
    now = dashboard.clock.now().timestamp()
    for _ in range(times):
        taken = anyio.run(dashboard.counters.reserve, budgets, now)
        assert isinstance(taken, Reservation)


def shown(page: str) -> str:
    """A page's text as a reader sees it: entities (such as quotes) unescaped."""
    return html.unescape(page)


def audit(dashboard: Dashboard) -> list[AuditEvent]:
    return dashboard.control.audit_page(limit=1000)


def snapshot(dashboard: Dashboard) -> tuple[list[Grant], list[AuditEvent]]:
    return dashboard.control.store.list_grants(), audit(dashboard)


def row_of(page: str, grant: Grant) -> str:
    """The table row of ``grant``."""
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    [row] = [r for r in rows if grant.id in r]
    return str(row)


# -- the list ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_each_grant_with_its_bindings(dash: Dashboard, role: Role) -> None:
    grant, _ = issue(dash, "alice-laptop", k8s="seed", github="reads")
    dash.clock.advance(90)
    dash.control.store.touch_grant(grant.id)
    dash.clock.advance(120)
    answer = dash.logged_in(role).get("/grants")
    assert answer.status_code == 200
    row = row_of(answer.text, grant)
    assert "alice-laptop" in row
    assert '<span class="status status-active">active</span>' in row
    assert '<code>github</code> → <a href="/policies/reads">reads</a>' in row
    assert '<code>k8s</code> → <a href="/policies/seed">seed</a>' in row
    assert "2026-01-01 00:00:00Z" in row  # created
    assert "never" in row  # no expiry
    assert "2 min ago" in row  # last used
    assert 'scope="col"' in answer.text
    assert "<caption" in answer.text


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_are_offered_issue_rotate_and_revoke(dash: Dashboard, role: Role) -> None:
    grant, _ = issue(dash, "alice-laptop")
    page = dash.logged_in(role).get("/grants").text
    offered = [
        'href="/grants/new"' in page,
        f'href="/grants/{grant.id}/revoke"' in page,
        f'href="/grants/{grant.id}/rotate"' in page,
        ">Actions</th>" in page,
    ]
    assert offered == [role is Role.ADMIN] * 4


def test_usage_is_what_the_counter_store_counted_for_that_grant(dash: Dashboard) -> None:
    alice, _ = issue(dash, "alice", k8s="seed", github="reads")
    bob, _ = issue(dash, "bob", k8s="seed")
    reserve(dash, [budget(dash, "seed", "delete_pod", alice, "k8s")], 3)
    reserve(dash, [budget(dash, "reads", "list_pods", bob, "github")], 4)  # shared upstream-wide
    page = dash.logged_in(Role.VIEWER).get("/grants").text
    mine, theirs = row_of(page, alice), row_of(page, bob)
    assert "3 / 5 per hour (grant)" in mine
    assert re.search(r'<meter min="0" max="5" value="3" [^>]*>3 of 5</meter>', mine)
    assert "0 / 5 per hour (grant)" in theirs  # bob's own budget: untouched
    # Scope "upstream": every grant on github shares it; all_tools counts per grant.
    assert "4 / 10 per minute (upstream, shared)" in mine
    assert "0 / 600 per hour (grant)" in mine
    assert "secrets" not in mine  # the hidden tool's limit never applies
    assert "full" not in mine


def test_a_full_limit_says_so_in_words(dash: Dashboard) -> None:
    grant, _ = issue(dash, "alice")
    reserve(dash, [budget(dash, "seed", "delete_pod", grant, "k8s")], 5)
    row = row_of(dash.logged_in(Role.VIEWER).get("/grants").text, grant)
    assert "5 / 5 per hour (grant)" in row
    assert "full: calls wait until one leaves the window" in row


def test_usage_follows_the_window_as_time_passes(dash: Dashboard) -> None:
    grant, _ = issue(dash, "alice")
    reserve(dash, [budget(dash, "seed", "delete_pod", grant, "k8s")], 2)
    dash.clock.advance(3599)  # (past a session's idle time: a new login each time)
    assert "2 / 5 per hour" in row_of(dash.logged_in(Role.VIEWER).get("/grants").text, grant)
    dash.clock.advance(1)
    assert "0 / 5 per hour" in row_of(dash.logged_in(Role.VIEWER).get("/grants").text, grant)


def test_reading_usage_reserves_nothing(dash: Dashboard) -> None:
    grant, _ = issue(dash, "alice")
    limit = [budget(dash, "seed", "delete_pod", grant, "k8s")]
    reserve(dash, limit, 4)
    browser = dash.logged_in(Role.VIEWER)
    for _ in range(3):
        assert "4 / 5 per hour" in browser.get("/grants").text
    reserve(dash, limit, 1)  # the fifth still fits
    assert dash.counters is not None
    sixth = anyio.run(dash.counters.reserve, limit, dash.clock.now().timestamp())
    assert isinstance(sixth, Refusal)


def test_without_the_counter_store_the_page_says_usage_is_unavailable(
    dashboard: Dashboard,
) -> None:
    dashboard.control.store.add_upstream(Upstream.stdio("k8s", "x"), actor="cli:root")
    dashboard.control.set_policy("seed", SEED_POLICY.read_text(), actor="cli:root")
    grant = dashboard.control.issue_grant("alice", {"k8s": "seed"}, actor="cli:root").grant
    page = dashboard.logged_in(Role.VIEWER).get("/grants").text
    assert str(escape(NO_COUNTERS)) in page
    row = row_of(page, grant)
    assert "at most 5 per hour (grant)" in row
    assert "<meter" not in row


class UnreachableCounters:
    """A counter store that can't be read, as a Redis that went away."""

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        raise LimitsUnavailable("redis://:***@10.0.0.9:6379/0", "Connection refused")

    async def release(self, reservation: Reservation) -> None:
        return None

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        raise LimitsUnavailable("redis://:***@10.0.0.9:6379/0", "Connection refused")

    async def ping(self) -> None:
        raise LimitsUnavailable("redis://:***@10.0.0.9:6379/0", "Connection refused")

    async def aclose(self) -> None:
        return None


def test_an_unreachable_counter_store_is_said_and_the_page_still_shows() -> None:
    clock = FakeClock()
    counters: CounterStore = UnreachableCounters()
    dashboard = make_dashboard(MemoryStore(clock), clock, counters)
    seed(dashboard)
    grant, _ = issue(dashboard, "alice")
    answer = dashboard.logged_in(Role.VIEWER).get("/grants")
    assert answer.status_code == 200
    assert "Usage is unavailable: " in answer.text
    assert "Connection refused" in answer.text
    assert "at most 5 per hour (grant)" in row_of(answer.text, grant)


def test_a_binding_to_a_policy_that_no_longer_compiles_says_why(dash: Dashboard) -> None:
    grant, _ = issue(dash, "alice")
    # Written around the control plane, as an older release with other rules could have.
    dash.control.store.add_policy_version("seed", '{"version": "1"}', actor="cli:root")
    row = row_of(dash.logged_in(Role.VIEWER).get("/grants").text, grant)
    assert 'policy "seed" no longer compiles (1 problems)' in html.unescape(row)


# -- filtering by status ----------------------------------------------------------------------


def grants_shown(page: str) -> list[str]:
    return re.findall(r'<th scope="row">([a-z0-9-]+)<br>', page)


def test_active_grants_come_first_and_the_status_filter_lives_in_the_url(dash: Dashboard) -> None:
    old, _ = issue(dash, "a-revoked")
    dash.control.store.revoke_grant(old.id, actor="cli:root")
    dash.control.issue_grant("b-expiring", {"k8s": "seed"}, expires_in=60, actor="cli:root")
    issue(dash, "c-active")
    dash.clock.advance(61)
    browser = dash.logged_in(Role.VIEWER)
    assert grants_shown(browser.get("/grants").text) == ["c-active", "b-expiring", "a-revoked"]
    assert grants_shown(browser.get("/grants?status=active").text) == ["c-active"]
    assert grants_shown(browser.get("/grants?status=expired").text) == ["b-expiring"]
    revoked = browser.get("/grants?status=revoked").text
    assert grants_shown(revoked) == ["a-revoked"]
    assert '<option value="revoked" selected>' in revoked
    assert "No active grants." not in revoked


def test_an_unknown_status_is_refused_at_the_filter(dash: Dashboard) -> None:
    issue(dash, "alice")
    answer = dash.logged_in(Role.VIEWER).get("/grants?status=paused")
    assert answer.status_code == 422
    assert 'status "paused": expected one of all, active, expired, revoked' in shown(answer.text)
    assert 'aria-describedby="status-error"' in answer.text
    assert grants_shown(answer.text) == []


def test_htmx_gets_only_the_list_and_a_reload_the_whole_page(dash: Dashboard) -> None:
    grant, _ = issue(dash, "alice")
    browser = dash.logged_in(Role.VIEWER)
    partial = browser.htmx("/grants?status=active")
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="grants">')
    assert "<html" not in partial.text
    assert grant.id in partial.text
    whole = browser.get("/grants?status=active")
    assert "<html" in whole.text
    assert 'hx-target="#grants"' in whole.text
    assert 'id="grants"' in whole.text


def test_a_stranger_is_sent_to_log_in(dash: Dashboard) -> None:
    answer = dash.browser().get("/grants?status=active")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fgrants%3Fstatus%3Dactive"


# -- issuing ----------------------------------------------------------------------------------


def test_the_issue_form_offers_each_stored_upstream_and_policy(dash: Dashboard) -> None:
    page = dash.logged_in(Role.ADMIN).get("/grants/new").text
    for upstream in ("github", "k8s"):
        assert f'<label for="bind-{upstream}"><code>{upstream}</code> →</label>' in page
        assert f'<select id="bind-{upstream}" name="bind.{upstream}">' in page
    assert page.count('<option value="seed">seed</option>') == 2
    assert page.count('<option value="reads">reads</option>') == 2
    assert '<label for="label">' in page
    assert '<label for="expires">' in page
    assert 'name="csrf_token"' in page


def test_issuing_shows_the_token_once_and_records_who(
    dash: Dashboard, caplog: pytest.LogCaptureFixture
) -> None:
    admin = dash.logged_in(Role.ADMIN)
    before = len(audit(dash))
    with caplog.at_level(logging.DEBUG):
        answer = admin.post(
            "/grants/new",
            {"label": "ci-runner", "bind.k8s": "seed", "bind.github": "", "expires": "30d"},
        )
    assert answer.status_code == 200
    [token] = re.findall(r'<code id="token">([^<]+)</code>', answer.text)
    assert answer.text.count(token) == 1
    assert '<button type="button" data-copy="#token">' in answer.text
    assert "it is not shown again" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert token not in str(answer.url)
    assert "location" not in answer.headers
    assert token not in caplog.text
    granted = dash.control.authenticate_grant(token)
    assert granted is not None
    assert (granted.label, dict(granted.bindings)) == ("ci-runner", {"k8s": "seed"})
    assert granted.expires_at is not None
    assert (granted.expires_at - dash.clock.now()).days == 30
    [event] = audit(dash)[: len(audit(dash)) - before]
    assert (event.action, event.object_id) == ("grant.issue", granted.id)
    assert event.actor == dash.actor(Role.ADMIN)
    # Never again: not in any page after, nor in the audit trail.
    for path in ("/grants", "/grants/new", f"/grants/{granted.id}/revoke", "/audit",
                 "/admin-tokens", f"/grants/{granted.id}/rotate"):  # fmt: skip
        later = admin.get(path)
        assert later.status_code == 200, path
        assert token not in later.text, path
    assert all(token not in repr(e) for e in audit(dash))


@pytest.mark.parametrize(
    ("fields", "messages"),
    [
        (
            {"label": "", "bind.k8s": "", "expires": "soon"},
            {
                "label-error": 'grant label "": expected a lowercase letter or digit',
                "bindings-error": "no policy chosen: expected a policy for at least one upstream",
                "expires-error": 'expiry "soon": expected a whole number and one unit',
            },
        ),
        ({"label": "Alice Laptop", "bind.k8s": "seed"}, {"label-error": 'grant label "Alice'}),
        (
            {"label": "a", "bind.k8s": "nope"},
            {"bind-k8s-error": 'policy "nope" for upstream "k8s" is not stored'},
        ),
        ({"label": "a", "bind.gone": "seed"}, {"bindings-error": 'upstream "gone" is not stored'}),
        (
            {"label": "a", "bind.k8s": "seed", "expires": "0d"},
            {"expires-error": 'expiry "0d": expected a duration longer than zero'},
        ),
    ],
)
def test_bad_input_is_shown_at_its_field_and_nothing_is_issued(
    dash: Dashboard, fields: dict[str, str], messages: dict[str, str]
) -> None:
    admin = dash.logged_in(Role.ADMIN)
    before = snapshot(dash)
    answer = admin.post("/grants/new", fields)
    assert answer.status_code == 422
    for at, message in messages.items():
        [found] = re.findall(f'<p class="error" id="{at}">([^<]*)</p>', answer.text)
        assert message in shown(found)
        assert f'aria-describedby="{at}"' in answer.text or f' {at}"' in answer.text
    assert "The grant was not issued" in answer.text
    assert 'id="token"' not in answer.text
    assert snapshot(dash) == before
    if fields.get("label") == "Alice Laptop":  # what was typed is kept
        assert 'value="Alice Laptop"' in answer.text
        assert '<option value="seed" selected>' in answer.text


def test_a_label_an_active_grant_holds_is_a_conflict(dash: Dashboard) -> None:
    issue(dash, "alice")
    admin = dash.logged_in(Role.ADMIN)
    before = snapshot(dash)
    answer = admin.post("/grants/new", {"label": "alice", "bind.k8s": "seed"})
    assert answer.status_code == 409
    assert 'grant label "alice" is used by active grant' in shown(answer.text)
    assert 'id="label-error"' in answer.text
    assert snapshot(dash) == before


def test_with_nothing_to_bind_the_form_says_what_to_add_first(dashboard: Dashboard) -> None:
    page = dashboard.logged_in(Role.ADMIN).get("/grants/new").text
    assert "there is no upstream and no policy yet" in page
    assert '<form class="stacked"' not in page


# -- revoking ---------------------------------------------------------------------------------


def test_revoking_asks_first_then_refuses_the_token_and_records_who(dash: Dashboard) -> None:
    grant, token = issue(dash, "alice")
    admin = dash.logged_in(Role.ADMIN)
    confirm = admin.get(f"/grants/{grant.id}/revoke")
    assert confirm.status_code == 200
    assert "refused with\n   <strong>401 Unauthorized</strong>" in confirm.text
    assert f'<form method="post" action="/grants/{grant.id}/revoke">' in confirm.text
    assert dash.control.authenticate_grant(token) is not None  # asking changed nothing
    answer = admin.post(f"/grants/{grant.id}/revoke")
    assert (answer.status_code, answer.headers["location"]) == (303, f"/grants?revoked={grant.id}")
    assert dash.control.authenticate_grant(token) is None
    after = admin.get(answer.headers["location"]).text
    assert "Revoked grant alice" in after
    assert "refused with 401 Unauthorized" in after
    assert '<span class="status status-revoked">revoked</span>' in row_of(after, grant)
    [event] = [e for e in audit(dash) if e.action == "grant.revoke"]
    assert (event.object_id, event.actor) == (grant.id, dash.actor(Role.ADMIN))


def test_a_revoked_grant_offers_nothing_more(dash: Dashboard) -> None:
    grant, _ = issue(dash, "alice")
    dash.control.store.revoke_grant(grant.id, actor="cli:root")
    admin = dash.logged_in(Role.ADMIN)
    for action in ("revoke", "rotate"):
        page = admin.get(f"/grants/{grant.id}/{action}").text
        assert "There is nothing to" in page
        assert '<form method="post" action="/grants/' not in page
    assert f"/grants/{grant.id}/revoke" not in admin.get("/grants").text


# -- rotating ---------------------------------------------------------------------------------


def test_rotating_shows_a_new_token_once_and_the_old_one_stops(dash: Dashboard) -> None:
    grant, old = issue(dash, "alice")
    admin = dash.logged_in(Role.ADMIN)
    confirm = admin.get(f"/grants/{grant.id}/rotate")
    assert "401 Unauthorized" in confirm.text
    assert dash.control.authenticate_grant(old) is not None
    answer = admin.post(f"/grants/{grant.id}/rotate")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    [new] = re.findall(r'<code id="token">([^<]+)</code>', answer.text)
    assert new != old
    assert answer.text.count(new) == 1
    assert dash.control.authenticate_grant(old) is None
    rotated = dash.control.authenticate_grant(new)
    assert rotated is not None
    assert rotated.id == grant.id
    [event] = [e for e in audit(dash) if e.action == "grant.rotate"]
    assert (event.object_id, event.actor) == (grant.id, dash.actor(Role.ADMIN))
    assert new not in admin.get("/grants").text
    assert new not in admin.get("/audit").text


def test_rotating_a_revoked_grant_is_a_conflict_that_changes_nothing(dash: Dashboard) -> None:
    grant, _ = issue(dash, "alice")
    dash.control.store.revoke_grant(grant.id, actor="cli:root")
    admin = dash.logged_in(Role.ADMIN)
    before = snapshot(dash)
    answer = admin.post(f"/grants/{grant.id}/rotate")
    assert answer.status_code == 409
    assert "is revoked; issue a new grant" in answer.text
    assert 'id="token"' not in answer.text
    assert snapshot(dash) == before


@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_an_unknown_grant_is_not_found(dash: Dashboard, action: str) -> None:
    admin = dash.logged_in(Role.ADMIN)
    before = snapshot(dash)
    assert admin.get(f"/grants/grt_nope/{action}").status_code == 404
    answer = admin.post(f"/grants/grt_nope/{action}")
    assert answer.status_code == 404
    assert 'grant "grt_nope" not found' in shown(answer.text)
    assert snapshot(dash) == before


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", LOWER_ROLES)
def test_lower_roles_may_not_open_the_admin_pages(dash: Dashboard, role: Role) -> None:
    grant, _ = issue(dash, "alice")
    browser = dash.logged_in(role)
    for path in ("/grants/new", f"/grants/{grant.id}/revoke", f"/grants/{grant.id}/rotate"):
        answer = browser.get(path)
        assert answer.status_code == 403, path
        assert f"this needs role admin; you have {role.value}" in answer.text


def posts(grant: Grant) -> list[tuple[str, dict[str, str]]]:
    return [
        ("/grants/new", {"label": "mallory", "bind.k8s": "seed"}),
        (f"/grants/{grant.id}/revoke", {}),
        (f"/grants/{grant.id}/rotate", {}),
    ]


@pytest.mark.parametrize("role", LOWER_ROLES)
def test_lower_roles_are_refused_every_change_and_nothing_changes(
    dash: Dashboard, role: Role
) -> None:
    grant, token = issue(dash, "alice")
    browser = dash.logged_in(role)
    before = snapshot(dash)
    for path, fields in posts(grant):
        answer = browser.post(path, fields)
        assert answer.status_code == 403, path
        assert 'id="token"' not in answer.text
    assert snapshot(dash) == before
    assert dash.control.authenticate_grant(token) is not None


@pytest.mark.parametrize("how", ["no csrf token", "foreign origin", "wrong csrf token"])
def test_a_forged_change_is_refused_and_nothing_changes(dash: Dashboard, how: str) -> None:
    grant, token = issue(dash, "alice")
    admin = dash.logged_in(Role.ADMIN)
    before = snapshot(dash)
    for path, fields in posts(grant):
        if how == "no csrf token":
            answer = admin.post(path, fields, csrf=False)
        elif how == "foreign origin":
            answer = admin.post(path, fields, headers=FOREIGN)
        else:
            answer = admin.post(path, {**fields, "csrf_token": "x" * 43})
        assert answer.status_code == 403, (path, answer.text)
        assert "refused: " in answer.text
    assert snapshot(dash) == before
    assert dash.control.authenticate_grant(token) is not None


def test_the_admin_tokens_entry_is_in_the_navigation_for_admins_only(dash: Dashboard) -> None:
    for role in ROLES:
        page = dash.logged_in(role).get("/grants").text
        assert ('<a href="/admin-tokens"' in page) is (role is Role.ADMIN), role
        assert '<a href="/grants" aria-current="page">Grants</a>' in page

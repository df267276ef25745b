"""The upstreams pages: the list with health, one upstream's tools as it lists them marked
per bound policy, checking now, and adding and removing upstreams (admins only).

The upstreams checked are real processes on loopback: ``tiny_server.py`` (starts at once,
hostile HTML in its texts), the project's SDK fixture server, a command that does not exist,
a closed port, and a process that never answers.
"""

from __future__ import annotations

import html
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from mcpwall.adapters.upstream import Connector
from mcpwall.admin import create_admin_app
from mcpwall.control.upstreams import get_upstream
from mcpwall.core.errors import NotFound
from mcpwall.core.proxylog import Outcome, ProxyLogRecord
from mcpwall.core.registry import Role, Upstream
from mcpwall.gateway.probe import Prober
from mcpwall.ports.logsink import MemorySink
from tests.dashboard.conftest import ORIGIN, Browser, Dashboard
from tests.fixtures.servers import FIXTURE_SERVER, free_port

TINY = Path(__file__).with_name("tiny_server.py")
SECRET = "sekrit-planted-0123456789"
HOSTILE = "<script>alert(1)</script>"
GUARD = {
    "version": "1",
    "default": "deny",
    "hide": ["get_secret"],
    "tools": {
        "delete_pod": {
            "require": [{"conditions": [{"path": "args.namespace", "op": "in", "value": ["dev"]}]}],
            "limits": [{"counter": "deletes", "max": 5, "window": "hour", "scope": "grant"}],
        },
        "get_pod_logs": {},
        "old_tool": {"deny_if": [{"conditions": []}]},
    },
}
OPEN = {
    "version": "1",
    "default": "allow",
    "mode": "shadow",
    "all_tools": {"limits": [{"counter": "all", "max": 600, "window": "hour", "scope": "grant"}]},
}


class Page:
    """The dashboard with a proxy log and an upstream checker the test holds."""

    def __init__(self, dashboard: Dashboard, *, timeout: float = 10.0) -> None:
        self.dashboard = dashboard
        self.log = MemorySink()
        control = dashboard.control
        self.prober = Prober(Connector(), clock=dashboard.clock, timeout=timeout)
        dashboard.app = create_admin_app(control, proxy_log=self.log, prober=self.prober)

    def add(self, upstream: Upstream) -> None:
        self.dashboard.control.store.add_upstream(upstream, actor="cli:root")

    def bind(self, label: str, bindings: dict[str, str]) -> None:
        self.dashboard.control.issue_grant(label, bindings, actor="cli:root")

    def browser(self, role: Role) -> Browser:
        return self.dashboard.logged_in(role)


@pytest.fixture
def page(dashboard: Dashboard) -> Page:
    return Page(dashboard)


def tiny(name: str = "tiny", *tools: str) -> Upstream:
    return Upstream.stdio(name, sys.executable, (str(TINY), *tools), env={"API_KEY": SECRET})


def with_policies(page: Page) -> None:
    control = page.dashboard.control
    control.set_policy("guard", json.dumps(GUARD), actor="cli:root")
    control.set_policy("open", json.dumps(OPEN), actor="cli:root")
    page.add(tiny())
    page.bind("alice", {"tiny": "guard"})
    page.bind("bob", {"tiny": "open"})


def row(text: str, tool: str) -> str:
    """The table row of ``tool`` in a page."""
    found = re.search(
        rf'<tr>\s*<th scope="row"><code>{re.escape(tool)}</code>.*?</tr>', text, re.DOTALL
    )
    assert found is not None, f"no row for {tool}"
    return found.group(0)


def flat(text: str) -> str:
    """``text`` with every run of blanks one space."""
    return " ".join(text.split())


def cells(row_html: str) -> list[str]:
    """The text of each cell of a row, tags removed, blanks collapsed."""
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row_html, re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


def record(page: Page, outcome: Outcome, minutes_ago: float, upstream: str = "tiny") -> None:
    """A request to ``upstream`` in the proxy log, ``minutes_ago``, that ended in ``outcome``."""
    at = page.dashboard.clock.now() - timedelta(minutes=minutes_ago)
    page.log.append(
        ProxyLogRecord(
            at=at,
            request_id="1",
            grant_id="grt_x",
            grant_label="alice",
            upstream=upstream,
            method="tools/call",
            tool="delete_pod",
            policy="guard",
            policy_version=1,
            decision="allow",
            rule="(allowed)",
            message="",
            argument_keys=(),
            outcome=outcome,
            decision_ms=0.1,
            upstream_ms=1.0,
            total_ms=1.2,
        )
    )


# -- who may see and do what -------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_both_pages_and_only_admins_are_offered_changes(
    page: Page, role: Role
) -> None:
    with_policies(page)
    browser = page.browser(role)
    listing = browser.get("/upstreams")
    detail = browser.get("/upstreams/tiny")
    assert (listing.status_code, detail.status_code) == (200, 200)
    assert '<a href="/upstreams/tiny">tiny</a>' in listing.text
    assert "Check now" in detail.text  # every viewer may check
    is_admin = role is Role.ADMIN
    assert ('action="/upstreams"' in listing.text) is is_admin
    assert ("Add an upstream" in listing.text) is is_admin
    assert ('action="/upstreams/tiny/remove"' in detail.text) is is_admin


@pytest.mark.parametrize("role", [Role.VIEWER, Role.POLICY_MANAGER])
def test_changes_are_refused_below_admin_and_change_nothing(page: Page, role: Role) -> None:
    page.add(tiny())
    browser = page.browser(role)
    added = browser.post("/upstreams", {"name": "new", "kind": "stdio", "command": "x"})
    removed = browser.post("/upstreams/tiny/remove")
    assert (added.status_code, removed.status_code) == (403, 403)
    assert [u.name for u in page.dashboard.control.store.list_upstreams()] == ["tiny"]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/upstreams", {"name": "new", "kind": "stdio", "command": "x"}),
        ("/upstreams/tiny/remove", {}),
        ("/upstreams/tiny/check", {}),
    ],
)
def test_every_change_needs_the_csrf_token_and_the_dashboards_origin(
    page: Page, path: str, data: dict[str, str]
) -> None:
    page.add(tiny())
    browser = page.browser(Role.ADMIN)
    before = page.dashboard.control.audit_page(limit=1)
    assert browser.post(path, data, csrf=False).status_code == 403
    assert browser.post(path, {**data, "csrf_token": "0" * 64}).status_code == 403
    foreign = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert browser.post(path, data, headers=foreign).status_code == 403
    assert browser.post(path, data, headers={}).status_code == 403
    assert [u.name for u in page.dashboard.control.store.list_upstreams()] == ["tiny"]
    assert page.dashboard.control.audit_page(limit=1) == before
    assert page.prober.last(tiny()) is None  # not even a check ran
    # The same request from the page itself goes through.
    assert browser.post(path, data).status_code == 303


def test_a_stranger_is_sent_to_log_in(page: Page) -> None:
    answer = page.dashboard.browser().get("/upstreams/tiny")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fupstreams%2Ftiny"


def test_an_unknown_upstream_is_not_found(page: Page) -> None:
    browser = page.browser(Role.ADMIN)
    assert browser.get("/upstreams/nope").status_code == 404
    assert browser.post("/upstreams/nope/check").status_code == 404
    assert browser.post("/upstreams/nope/remove").status_code == 404


# -- the list ------------------------------------------------------------------------------------


def test_the_list_shows_each_upstream_masked_with_its_bindings(page: Page) -> None:
    with_policies(page)
    url = f"https://user:{SECRET}@mcp.example.com/mcp?key={SECRET}"
    page.add(Upstream.remote("github", url, {"Authorization": f"Bearer {SECRET}"}))
    text = page.browser(Role.VIEWER).get("/upstreams").text
    github, tiny_row = cells(row_of_name(text, "github")), cells(row_of_name(text, "tiny"))
    assert github[:4] == [
        "github", "http", "https://user:***@mcp.example.com/mcp?key=***", "Authorization: ***",
    ]  # fmt: skip
    assert github[5] == "none"
    assert tiny_row[1:4] == ["stdio", f"{sys.executable} {TINY}", "API_KEY=***"]
    assert tiny_row[5] == "alice → guard bob → open"
    assert "not checked yet" in tiny_row[4]
    assert SECRET not in text


def row_of_name(text: str, name: str) -> str:
    found = re.search(
        rf'<tr>\s*<th scope="row"><a href="/upstreams/{name}">.*?</tr>', text, re.DOTALL
    )
    assert found is not None, f"no row for {name}"
    return found.group(0)


def test_the_list_shows_the_last_check_without_checking(page: Page) -> None:
    page.add(tiny())
    browser = page.browser(Role.VIEWER)
    assert "not checked yet" in browser.get("/upstreams").text
    assert page.prober.last(tiny()) is None  # listing checked nothing
    browser.get("/upstreams/tiny")  # looking at it checks it
    page.dashboard.clock.advance(125)
    health = cells(row_of_name(browser.get("/upstreams").text, "tiny"))[4]
    assert re.match(r"checked 2 min ago: reachable, 4 tools, [\d,]+ ms", health), health


def test_the_list_counts_recent_failed_requests_from_the_proxy_log(page: Page) -> None:
    page.add(tiny())
    page.add(tiny("other"))
    recent: list[tuple[Outcome, int]] = [
        ("ok", 1), ("unreachable", 5), ("timeout", 10), ("unreachable", 50),
        ("protocol_error", 30), ("tool_error", 2), ("unreachable", 61),
    ]  # fmt: skip
    for outcome, minutes in recent:
        record(page, outcome, minutes)
    record(page, "unreachable", 1, upstream="other-upstream")
    text = page.browser(Role.VIEWER).get("/upstreams").text
    health = cells(row_of_name(text, "tiny"))[4]
    assert (
        "last 60 min: of 6 requests, 4 failed (2 unreachable, 1 timeout, 1 protocol_error; last 5 min ago)"
        in health
    )
    assert "no requests in the last 60 min" in cells(row_of_name(text, "other"))[4]


def test_the_list_says_when_it_counted_only_the_newest_rows(page: Page) -> None:
    page.add(tiny())
    for _ in range(1001):
        record(page, "ok", 1)
    health = cells(row_of_name(page.browser(Role.VIEWER).get("/upstreams").text, "tiny"))[4]
    assert "of the newest 1,000 requests, none failed" in health


def test_the_list_alone_is_sent_to_htmx(page: Page) -> None:
    page.add(tiny())
    browser = page.browser(Role.ADMIN)
    full, partial = browser.get("/upstreams"), browser.htmx("/upstreams")
    assert "<html" in full.text
    assert 'id="upstreams"' in full.text
    assert "<html" not in partial.text
    assert partial.text.lstrip().startswith('<div id="upstreams">')
    assert "Add an upstream" not in partial.text


# -- one upstream --------------------------------------------------------------------------------


def test_tools_are_listed_as_the_upstream_lists_them_marked_per_policy(page: Page) -> None:
    with_policies(page)
    text = page.browser(Role.VIEWER).get("/upstreams/tiny").text
    assert "reachable in" in text
    assert "protocol 2025-11-25 (legacy era), 4 tools." in flat(text)
    headers = re.findall(r'<th scope="col">Policy <code>(\w+)</code></th>', text)
    assert headers == ["guard", "open"]
    listed = re.findall(
        r'<th scope="row"><code>([^<]+)</code>', text.split('<table class="tools">')[1]
    )
    # The upstream's order, then what a policy names that the upstream does not list.
    assert listed == ["delete_pod", "get_pod_logs", "get_secret", "exec", "old_tool"]
    delete = cells(row(text, "delete_pod"))
    assert delete[3].startswith("has rules has limits deletes: 5 per hour, per grant")
    assert "/tools/delete_pod" in delete[3]
    assert delete[4].startswith("allowed by default has limits all: 600 per hour, per grant")
    assert cells(row(text, "get_pod_logs"))[3].startswith("allowed /tools/get_pod_logs")
    assert cells(row(text, "get_secret"))[3].startswith("hidden /hide")
    assert cells(row(text, "exec"))[3].startswith("refused by default deny /default")
    old = cells(row(text, "old_tool"))
    assert "named in policy, not listed by the upstream" in old[0]
    assert old[3].startswith("has rules")
    assert old[4].startswith("allowed by default")
    assert "shadow mode" in text  # the open policy only logs its refusals
    assert "bound by alice" in text
    assert "bound by bob" in text


def test_each_tool_shows_its_description_and_top_level_inputs_escaped(page: Page) -> None:
    page.add(tiny())
    text = page.browser(Role.VIEWER).get("/upstreams/tiny").text
    assert HOSTILE not in text  # not in the description, the inputs, nor the server's name
    assert html.escape(HOSTILE, quote=False) in text
    delete = cells(row(text, "delete_pod"))
    assert delete[0] == "delete_pod Delete a pod"
    assert delete[1] == f"Deletes a pod {html.escape(HOSTILE, quote=False)}"
    assert delete[2] == (
        f"namespace string required — where {html.escape(HOSTILE, quote=False)} "
        "name string required force boolean|null"
    )
    assert "None: no active grant binds this upstream to a policy" in text


def test_an_upstream_with_no_policy_bound_says_so(page: Page) -> None:
    page.add(tiny())
    text = page.browser(Role.VIEWER).get("/upstreams/tiny").text
    assert "No active grant is bound to this upstream" in text
    assert '<th scope="col">Policy' not in text
    assert len(cells(row(text, "exec"))) == 4  # tool, description, inputs, pin: no policy column


def test_the_sdk_fixture_server_is_listed(page: Page) -> None:
    page.add(Upstream.stdio("fixture", sys.executable, (str(FIXTURE_SERVER), "stdio")))
    text = page.browser(Role.VIEWER).get("/upstreams/fixture").text
    assert "server <code>mcpwall-fixture</code> version <code>1.0.0</code>" in text
    for tool in ("echo", "delete_pod", "get_secret", "apply_manifest"):
        row(text, tool)
    assert cells(row(text, "echo"))[2].startswith("message string required")


def test_a_missing_command_is_shown_unreachable_without_secrets(page: Page) -> None:
    page.add(Upstream.stdio("ghost", "mcpwall-no-such-program", env={"TOKEN": SECRET}))
    page.dashboard.control.set_policy("guard", json.dumps(GUARD), actor="cli:root")
    page.bind("alice", {"ghost": "guard"})
    text = page.browser(Role.VIEWER).get("/upstreams/ghost").text
    assert (
        'not reachable: <span class="probe-error">cannot start '
        "&#34;mcpwall-no-such-program&#34;: no such program (looked in its PATH)</span>"
    ) in text
    # What the policy names is still shown, marked as such.
    assert "named in policy; the upstream's list is unavailable" in row(text, "delete_pod")
    assert SECRET not in text


def test_a_closed_port_is_shown_unreachable_with_the_url_masked(page: Page) -> None:
    url = f"http://me:{SECRET}@127.0.0.1:{free_port()}/mcp?token={SECRET}"
    page.add(Upstream.remote("closed", url, {"X-Key": SECRET}))
    browser = page.browser(Role.VIEWER)
    text = browser.get("/upstreams/closed").text
    assert "not reachable" in text
    assert "connection refused" in text
    assert SECRET not in text
    assert SECRET not in browser.get("/upstreams").text


def test_an_upstream_that_never_answers_is_shown_timed_out(dashboard: Dashboard) -> None:
    page = Page(dashboard, timeout=0.5)
    script = "import sys; sys.stdin.read()"  # reads everything, answers nothing
    page.add(Upstream.stdio("mute", sys.executable, ("-c", script), env={"K": SECRET}))
    text = page.browser(Role.VIEWER).get("/upstreams/mute").text
    assert "not reachable" in text
    assert "no answer within 0.5 s while opening a session" in text


def test_a_page_view_reuses_a_recent_check(page: Page) -> None:
    page.add(tiny())
    browser = page.browser(Role.VIEWER)
    first = checked_at(browser.get("/upstreams/tiny").text)
    page.dashboard.clock.advance(29)
    assert checked_at(browser.get("/upstreams/tiny").text) == first
    page.dashboard.clock.advance(2)
    assert checked_at(browser.get("/upstreams/tiny").text) != first


def checked_at(text: str) -> str:
    found = re.search(r'Checked .*? \(<time datetime="([^"]+)">', text)
    assert found is not None, "no check shown"
    return found.group(1)


def test_check_now_checks_again_at_most_every_ten_seconds(page: Page) -> None:
    page.add(tiny())
    browser = page.browser(Role.VIEWER)
    first = checked_at(browser.get("/upstreams/tiny").text)
    page.dashboard.clock.advance(4)
    soon = browser.post("/upstreams/tiny/check", headers={**same_origin(), "HX-Request": "true"})
    assert soon.status_code == 200
    assert "<html" not in soon.text
    assert soon.text.lstrip().startswith('<section id="probe"')
    assert checked_at(soon.text) == first
    assert "Checked 4 s ago; an upstream is checked at most once every 10 s" in soon.text
    assert "a new one in 6 s" in soon.text
    page.dashboard.clock.advance(6)
    later = browser.post("/upstreams/tiny/check", headers={**same_origin(), "HX-Request": "true"})
    assert checked_at(later.text) != first
    assert "at most once" not in later.text


def test_check_now_from_a_plain_form_goes_back_to_the_page(page: Page) -> None:
    page.add(tiny())
    answer = page.browser(Role.VIEWER).post("/upstreams/tiny/check")
    assert (answer.status_code, answer.headers["location"]) == (303, "/upstreams/tiny")
    assert page.prober.last(tiny()) is not None


def test_a_changed_upstream_is_not_shown_with_its_old_check(page: Page) -> None:
    page.add(tiny("tiny", "first_tool"))
    browser = page.browser(Role.ADMIN)
    assert "first_tool" in browser.get("/upstreams/tiny").text
    control = page.dashboard.control
    control.store.update_upstream(tiny("tiny", "second_tool"), actor="cli:root")
    assert "not checked yet" in browser.get("/upstreams").text
    text = browser.get("/upstreams/tiny").text
    assert "second_tool" in text
    assert "first_tool" not in text


def test_one_upstream_alone_is_sent_to_htmx(page: Page) -> None:
    page.add(tiny())
    browser = page.browser(Role.ADMIN)
    partial = browser.htmx("/upstreams/tiny")
    assert "<html" not in partial.text
    assert partial.text.lstrip().startswith('<section id="probe"')
    assert "Remove this upstream" not in partial.text


# -- adding --------------------------------------------------------------------------------------


def form(**fields: str) -> dict[str, str]:
    return {"name": "", "kind": "stdio", "command": "", "cwd": "", "url": "", **fields}


def test_an_admin_adds_a_stdio_upstream_with_write_only_env(page: Page) -> None:
    browser = page.browser(Role.ADMIN)
    answer = browser.post(
        "/upstreams",
        form(
            name="k8s", command="npx -y 'mcp-server-kubernetes'", cwd="/srv",
            env_key_0="KUBECONFIG", env_value_0=SECRET, env_key_2="EMPTY", env_value_2="",
        ),
    )  # fmt: skip
    assert (answer.status_code, answer.headers["location"]) == (303, "/upstreams/k8s")
    stored = get_upstream(page.dashboard.control, "k8s")
    assert stored == Upstream.stdio(
        "k8s", "npx", ("-y", "mcp-server-kubernetes"), {"KUBECONFIG": SECRET, "EMPTY": ""}, "/srv"
    )
    [event] = page.dashboard.control.audit_page(limit=1)
    assert (event.action, event.actor, event.object_id) == (
        "upstream.add", page.dashboard.actor(Role.ADMIN), "k8s",
    )  # fmt: skip
    for path in ("/upstreams", "/upstreams/k8s", "/audit"):
        text = browser.get(path).text
        assert SECRET not in text
    assert "KUBECONFIG=***" in browser.get("/upstreams").text


@pytest.mark.parametrize("kind", ["http", "sse"])
def test_an_admin_adds_a_remote_upstream_with_write_only_headers(page: Page, kind: str) -> None:
    browser = page.browser(Role.ADMIN)
    answer = browser.post(
        "/upstreams",
        form(
            name="gh", kind=kind, url="https://mcp.example.com/mcp",
            header_key_1="Authorization", header_value_1=f"Bearer {SECRET}",
        ),
    )  # fmt: skip
    assert answer.status_code == 303
    stored = get_upstream(page.dashboard.control, "gh")
    assert (stored.kind.value, dict(stored.headers)) == (
        kind,
        {"Authorization": f"Bearer {SECRET}"},
    )
    assert SECRET not in browser.get("/upstreams").text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (form(name="Bad_Name", command="x"), "name", "upstream name &#34;Bad_Name&#34;"),
        (form(name="x"), "command", "Command &#34;&#34;: expected a program to run"),
        (form(name="x", command="a 'b"), "command", "can&#39;t split the command line"),
        (form(name="x", kind="http"), "url", "URL &#34;&#34;: expected an http:// or https:// URL"),
        (
            form(name="x", kind="http", url="ftp://h/x"),
            "url",
            "expected an http:// or https:// URL",
        ),
        (
            form(name="x", kind="http", url="http://h/", command="a"),
            "command",
            "Command applies to stdio upstreams",
        ),
        (
            form(name="x", command="a", url="http://h/"),
            "url",
            "URL applies to http and sse upstreams",
        ),
        (
            form(name="x", kind="gopher"),
            "kind",
            "Transport &#34;gopher&#34;: expected one of stdio, http, sse",
        ),
        (
            form(name="x", command="a", env_value_1=SECRET),
            "env",
            "Environment row 2: a value without a name",
        ),
        (
            form(name="x", command="a", env_key_0="1BAD", env_value_0=SECRET),
            "env",
            "env key &#34;1BAD&#34;",
        ),
        (
            form(name="x", command="a", env_key_0="K", env_key_1="K", env_value_1=SECRET),
            "env",
            "Environment &#34;K&#34; is given twice",
        ),
        (
            form(
                name="x",
                kind="http",
                url="http://h/",
                header_key_0="Bad Name",
                header_value_0=SECRET,
            ),
            "headers",
            "header name",
        ),
    ],
)
def test_bad_input_is_refused_at_its_field_and_changes_nothing(
    page: Page, fields: dict[str, str], field: str, message: str
) -> None:
    browser = page.browser(Role.ADMIN)
    before = page.dashboard.control.audit_page(limit=1)
    answer = browser.post("/upstreams", fields)
    assert answer.status_code == 422
    found = re.search(rf'<p class="error field-error" id="{field}-error">(.*?)</p>', answer.text)
    assert found is not None, answer.text
    assert message in found.group(1)
    assert f'aria-describedby="{field}-error' in answer.text
    assert "The upstream was not added" in answer.text
    assert page.dashboard.control.store.list_upstreams() == []
    assert page.dashboard.control.audit_page(limit=1) == before
    # What was typed is shown again, except secret values.
    if fields["name"]:
        assert f'value="{html.escape(fields["name"])}"' in answer.text
    assert SECRET not in answer.text


def test_a_name_in_use_is_a_conflict_at_the_name(page: Page) -> None:
    page.add(tiny())
    answer = page.browser(Role.ADMIN).post("/upstreams", form(name="tiny", command="other"))
    assert answer.status_code == 409
    assert 'id="name-error">upstream &#34;tiny&#34; already exists' in answer.text
    assert get_upstream(page.dashboard.control, "tiny") == tiny()


# -- removing ------------------------------------------------------------------------------------


def test_an_admin_removes_an_upstream(page: Page) -> None:
    page.add(tiny())
    browser = page.browser(Role.ADMIN)
    browser.get("/upstreams/tiny")  # checked, and kept
    answer = browser.post("/upstreams/tiny/remove")
    assert (answer.status_code, answer.headers["location"]) == (303, "/upstreams?removed=tiny")
    with pytest.raises(NotFound):
        get_upstream(page.dashboard.control, "tiny")
    [event] = page.dashboard.control.audit_page(limit=1)
    assert (event.action, event.actor) == ("upstream.remove", page.dashboard.actor(Role.ADMIN))
    assert page.prober.last(tiny()) is None
    assert "Removed upstream <code>tiny</code>." in browser.get(answer.headers["location"]).text


def test_removed_says_nothing_for_a_name_still_there_or_not_a_name(page: Page) -> None:
    page.add(tiny())
    browser = page.browser(Role.VIEWER)
    assert "Removed upstream" not in browser.get("/upstreams?removed=tiny").text
    assert "Removed upstream" not in browser.get("/upstreams?removed=%3Cb%3E").text


def test_removing_an_upstream_in_use_is_refused_with_the_reason(page: Page) -> None:
    with_policies(page)
    browser = page.browser(Role.ADMIN)
    before = page.dashboard.control.audit_page(limit=1)
    answer = browser.post("/upstreams/tiny/remove")
    assert answer.status_code == 409
    assert (
        'id="remove-error">upstream &#34;tiny&#34; is bound to active grants alice, bob; '
        "revoke those grants first</p>"
    ) in answer.text
    assert get_upstream(page.dashboard.control, "tiny") == tiny()
    assert page.dashboard.control.audit_page(limit=1) == before
    assert page.prober.last(tiny()) is None  # a refused removal checks nothing


def same_origin() -> dict[str, str]:
    return {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}

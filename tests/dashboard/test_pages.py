"""Every dashboard page, checked alike: who may see it, what it may refer to, its headers.

The routes are read from the app itself, so a page added later is checked too: each GET page
renders for a viewer (with a row in every table it reads), and its HTML refers to no other
host, names only ``hx-target`` ids that exist on the page, uses no inline script or style,
and every form that changes something carries the CSRF token.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mcpwall.control import ControlPlane
from mcpwall.core.registry import Role, Upstream
from mcpwall.dashboard.app import create_dashboard
from mcpwall.dashboard.pages import PageRoute
from mcpwall.dashboard.security import CONTENT_SECURITY_POLICY
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from tests.dashboard.conftest import SEED_POLICY, Dashboard

# Concrete URLs for the path parameters the pages take, once ``populate`` has run; the routes
# in ``PER_ROUTE`` first (an admin token's id is known only once ``concrete`` looks it up).
PER_ROUTE = {"/admin-tokens/{id}/revoke": "/admin-tokens/VIEWER-TOKEN-ID/revoke"}
TINY = Path(__file__).with_name("tiny_server.py")
EXAMPLES = {
    "{id}": "1",
    "{name}": "seed",
    "{ref}": "ci-runner",
    "{version}": "1",
    "{n}": "1",
}
# Routes whose parameter names something other than the default above.
ROUTE_EXAMPLES = {
    "/upstreams/{name}": "/upstreams/kubernetes",
    "/upstreams/{name}/tools/{tool}": "/upstreams/listed/tools/delete_pod",
    "/upstreams/{name}/tools/{tool}/accept": "/upstreams/listed/tools/delete_pod/accept",
}
# GET routes that are not pages: streams and downloads, checked in their own tests.
NOT_PAGES = {"/tail/events", "/logs/export"}


def populate(dashboard: Dashboard) -> None:
    """One of everything, so that every page shows a row of what it lists."""
    control = dashboard.control
    # A server that ends at once: the upstream page's check fails fast instead of waiting out
    # its timeout (what a check shows is tests/dashboard/test_upstreams.py's business).
    exits = Upstream.stdio("kubernetes", sys.executable, ("-c", "pass"))
    control.store.add_upstream(exits, actor="t")
    # One that lists its tools at once, for the pages of one tool's pin.
    control.store.add_upstream(Upstream.stdio("listed", sys.executable, (str(TINY),)), actor="t")
    control.set_policy("seed", SEED_POLICY.read_text(), actor="t")
    control.issue_grant("ci-runner", {"kubernetes": "seed"}, actor="t")
    dashboard.write(dashboard.record(), dashboard.record(decision="allow", rule="(allowed)"))


def example(route: PageRoute) -> str:
    """The route's path with an example for each parameter."""
    path = PER_ROUTE.get(route.path, ROUTE_EXAMPLES.get(route.path, route.path))
    for pattern, value in EXAMPLES.items():
        path = path.replace(pattern, value)
    assert "{" not in path, f"add an example for {route.path} to EXAMPLES"
    return path


ROUTES = [
    route
    for route in create_dashboard(ControlPlane(MemoryStore()), MemorySink()).routes
    if isinstance(route, PageRoute)
]
# (path, method, role needed) for every route and method.
ACCESS = sorted(
    (example(route), method, role)
    for route in ROUTES
    for method, role in route.roles.items()
    if method != "HEAD"
)
PAGES = sorted(path for path, method, _ in ACCESS if method == "GET" and path not in NOT_PAGES)
VIEWER_PAGES = [p for p, m, role in ACCESS if m == "GET" and role is Role.VIEWER and p in PAGES]
BELOW = {
    Role.VIEWER: [],
    Role.POLICY_MANAGER: [Role.VIEWER],
    Role.ADMIN: [Role.VIEWER, Role.POLICY_MANAGER],
}


def concrete(dashboard: Dashboard, path: str) -> str:
    """``path`` with the ids known only once the dashboard exists."""
    [viewer] = [t for t in dashboard.control.store.list_admin_tokens() if t.role is Role.VIEWER]
    return path.replace("VIEWER-TOKEN-ID", viewer.id)


class Refs(HTMLParser):
    """Collects ids, hx-targets, URLs, inline scripts and styles, and unsafe forms."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.targets: list[str] = []
        self.urls: list[str] = []
        self.inline: list[str] = []
        self.forms_without_token: list[str] = []
        self._form: tuple[str, bool] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "id" in found:
            self.ids.add(found["id"])
        if "hx-target" in found:
            self.targets.append(found["hx-target"])
        for name in ("href", "src", "action", "hx-get", "hx-post", "sse-connect", "formaction"):
            if name in found:
                self.urls.append(found[name])
        if "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(f"<{tag} {found}>")
        if tag == "script" and "src" not in found:
            self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "form":
            method = found.get("method", "get").lower()
            unsafe = method == "post" or "hx-post" in found
            self._form = (found.get("action", ""), unsafe)
            self._token = False
        if tag == "input" and found.get("name") == "csrf_token":
            self._token = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            action, unsafe = self._form
            if unsafe and not self._token and action != "/login":
                self.forms_without_token.append(action)
            self._form = None


def refs_of(html: str) -> Refs:
    parser = Refs()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_self_contained_and_consistent(dashboard: Dashboard, path: str) -> None:
    populate(dashboard)
    answer = dashboard.logged_in(Role.ADMIN).get(concrete(dashboard, path))
    assert answer.status_code == 200, answer.text
    refs = refs_of(answer.text)
    for target in refs.targets:
        assert target.startswith("#"), target
        assert target[1:] in refs.ids, f"{path}: hx-target {target} names no element"
    for url in refs.urls:
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.I), (
            f"{path}: {url} leaves the origin"
        )
    assert refs.inline == [], f"{path}: inline script or style {refs.inline}"
    assert refs.forms_without_token == [], f"{path}: forms without the CSRF token"


@pytest.mark.parametrize("path", VIEWER_PAGES)
def test_every_page_is_for_logged_in_viewers_only(dashboard: Dashboard, path: str) -> None:
    populate(dashboard)
    url = concrete(dashboard, path)
    assert dashboard.browser().get(url).status_code == 303
    assert dashboard.logged_in(Role.VIEWER).get(url).status_code == 200


@pytest.mark.parametrize(("path", "method", "role"), [a for a in ACCESS if a[2] is not Role.VIEWER])
def test_every_route_refuses_every_role_below_its_own(
    dashboard: Dashboard, path: str, method: str, role: Role
) -> None:
    populate(dashboard)
    before = len(dashboard.control.audit_page(limit=1000))
    for lower in BELOW[role]:
        browser = dashboard.logged_in(lower)
        url = concrete(dashboard, path)
        answer = browser.get(url) if method == "GET" else browser.post(url, {"name": "seed"})
        assert answer.status_code == 403, (lower, answer.text)
        assert "needs role" in answer.text
    logins = len(BELOW[role])
    assert len(dashboard.control.audit_page(limit=1000)) == before + logins  # nothing changed


@pytest.mark.parametrize(("path", "method", "role"), [a for a in ACCESS if a[1] == "POST"])
def test_every_change_needs_the_csrf_token_and_our_origin(
    dashboard: Dashboard, path: str, method: str, role: Role
) -> None:
    populate(dashboard)
    browser = dashboard.logged_in(Role.ADMIN)
    before = len(dashboard.control.audit_page(limit=1000))
    url = concrete(dashboard, path)
    assert browser.post(url, {"name": "seed"}, csrf=False).status_code == 403
    foreign = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert browser.post(url, {"name": "seed"}, headers=foreign).status_code == 403
    assert len(dashboard.control.audit_page(limit=1000)) == before


@pytest.mark.parametrize("path", ["/login", *PAGES])
def test_every_page_carries_the_security_headers(dashboard: Dashboard, path: str) -> None:
    populate(dashboard)
    headers = dashboard.logged_in(Role.ADMIN).get(concrete(dashboard, path)).headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_static_files_are_served_with_the_headers_and_may_be_cached(dashboard: Dashboard) -> None:
    answer = dashboard.browser().get("/static/app.js")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers.get("cache-control") != "no-store"
    assert "etag" in answer.headers


def test_an_unknown_page_is_a_404_page(dashboard: Dashboard) -> None:
    answer = dashboard.logged_in(Role.VIEWER).get("/no-such-page")
    assert answer.status_code == 404
    assert "Not found" in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_the_pages_under_test_include_the_main_ones() -> None:
    assert {"/logs", "/tail", "/audit", "/grants", "/policies", "/upstreams"} <= set(PAGES)
    admin_only = {path for path, method, role in ACCESS if method == "GET" and role is Role.ADMIN}
    assert {"/admin-tokens", "/grants/new"} <= admin_only

"""The dashboard under test: the admin app (API and dashboard) over a control plane, and a
browser-like client per role that logs in through the login form and keeps its cookie.

``Browser.post`` sends what a browser sends from one of the dashboard's own pages (``Origin``,
``Sec-Fetch-Site: same-origin``) and the session's CSRF token; tests that check refusals
leave them out or change them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from mcpwall.adapters.store import open_store
from mcpwall.admin import create_admin_app
from mcpwall.control import ControlPlane
from mcpwall.core.logins import csrf_token
from mcpwall.core.registry import Role
from mcpwall.dashboard.visitors import PLAIN_COOKIE
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import CounterStore
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.store import Store

if TYPE_CHECKING:
    from httpx2 import Response

ORIGIN = "http://127.0.0.1:8701"
SAME_ORIGIN = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
SEED_POLICY = Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json"


@dataclass
class Browser:
    """One browser: its own cookie jar, logged in (or not) as one admin token."""

    client: TestClient
    secret: str | None = None

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def htmx(self, path: str, **kwargs: Any) -> Response:
        """A GET as htmx sends it for part of a page."""
        headers = {"HX-Request": "true", **kwargs.pop("headers", {})}
        return self.get(path, headers=headers, **kwargs)

    def post(
        self,
        path: str,
        data: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        csrf: bool = True,
    ) -> Response:
        sent = dict(SAME_ORIGIN if headers is None else headers)
        fields = dict(data or {})
        if csrf and self.secret is not None:
            fields.setdefault("csrf_token", csrf_token(self.secret))
        return self.client.post(path, data=fields, headers=sent, follow_redirects=False)


@dataclass
class Dashboard:
    control: ControlPlane
    clock: FakeClock
    app: Any
    tokens: dict[Role, str] = field(default_factory=dict)
    counters: CounterStore | None = None

    def browser(self) -> Browser:
        return Browser(TestClient(self.app, base_url=ORIGIN))

    def logged_in(self, role: Role) -> Browser:
        browser = self.browser()
        answer = browser.post("/login", {"token": self.tokens[role], "next": "/"})
        assert answer.status_code == 303, answer.text
        browser.secret = browser.client.cookies[PLAIN_COOKIE]
        return browser

    def actor(self, role: Role) -> str:
        [token] = [t for t in self.control.store.list_admin_tokens() if t.label == label_of(role)]
        return f"admin:{token.id} ({label_of(role)})"


def label_of(role: Role) -> str:
    return role.value.replace("_", "-")


def make_dashboard(
    store: Store, clock: FakeClock, counters: CounterStore | None = None
) -> Dashboard:
    """A dashboard over ``store``; with ``counters``, as ``mcpwall serve`` gives it the data
    plane's counter store."""
    control = ControlPlane(store, clock)
    tokens = {
        role: control.create_admin_token(role, label=label_of(role), actor="cli:root").token
        for role in Role
    }
    app = create_admin_app(control, counters=counters)
    return Dashboard(control, clock, app, tokens, counters)


@pytest.fixture(params=["memory", "sqlite"])
def dashboard(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dashboard]:
    clock = FakeClock()
    store: Store
    if request.param == "memory":
        store = MemoryStore(clock)
    else:
        store = open_store(None, tmp_path / "home", clock=clock, environ={})
    yield make_dashboard(store, clock)
    store.close()

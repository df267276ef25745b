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

from mcpwall.adapters.proxylog import proxy_log_reader
from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.proxy_log import SQLProxyLog
from mcpwall.admin import create_admin_app
from mcpwall.control import ControlPlane
from mcpwall.core.logins import csrf_token
from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.core.registry import Role
from mcpwall.dashboard.tail import Tails
from mcpwall.dashboard.visitors import PLAIN_COOKIE
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import CounterStore
from mcpwall.ports.logsink import MemorySink
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
    log: SQLProxyLog | MemorySink
    tails: Tails
    tokens: dict[Role, str] = field(default_factory=dict)
    counters: CounterStore | None = None

    def write(self, *records: ProxyLogRecord) -> None:
        """Rows in the proxy log, as the gateway's writer puts them there."""
        self.log.write_batch(records)

    def record(self, **fields: Any) -> ProxyLogRecord:
        """A decided ``tools/call`` row at the clock's time; ``fields`` replace the defaults."""
        defaults: dict[str, Any] = {
            "at": self.clock.now(), "request_id": "1", "grant_id": "grt_0123456789abcdef",
            "grant_label": "ci-runner", "upstream": "kubernetes", "method": "tools/call",
            "tool": "delete_pod", "policy": "seed", "policy_version": 1, "decision": "deny",
            "rule": "/tools/delete_pod/require/0/conditions/0",
            "message": "only dev, staging and sandbox", "argument_keys": ("name", "namespace"),
            "outcome": "not_forwarded", "decision_ms": 0.01, "upstream_ms": 0.0, "total_ms": 0.4,
        }  # fmt: skip
        return ProxyLogRecord(**(defaults | fields))

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
    log = proxy_log_reader(store, clock)
    tails = Tails(poll_seconds=0.01, heartbeat_seconds=3600)
    app = create_admin_app(control, proxy_log=log, tails=tails, counters=counters)
    return Dashboard(control, clock, app, log, tails, tokens, counters)


def open_test_store(kind: str, tmp_path: Path, clock: FakeClock) -> Store:
    """An empty store of ``kind``: ``memory``, or ``sqlite`` in ``tmp_path``."""
    if kind == "memory":
        return MemoryStore(clock)
    return open_store(None, tmp_path / "home", clock=clock, environ={})


@pytest.fixture(params=["memory", "sqlite"])
def dashboard(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dashboard]:
    clock = FakeClock()
    store = open_test_store(request.param, tmp_path, clock)
    yield make_dashboard(store, clock)
    store.close()

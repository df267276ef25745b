"""The admin API under test: a Starlette test client over a control plane, one token per role.

Every test that takes ``api`` runs twice: over the in-memory store and over the real SQLite
store in a temporary directory, both on a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from mcpwall.adapters.store import open_store
from mcpwall.admin import create_admin_app
from mcpwall.control import ControlPlane
from mcpwall.core.registry import Role
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.store import Store

if TYPE_CHECKING:
    # Starlette's test client runs on httpx2 (the successor of httpx; the mcp SDK needs it too).
    from httpx2 import Response


SEED_POLICY = Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json"


@dataclass
class Session:
    """A client calling as one admin token (or with none)."""

    client: TestClient
    token: str | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)


@dataclass
class Api:
    """The app under test, its control plane, and a session for each role."""

    control: ControlPlane
    clock: FakeClock
    client: TestClient
    tokens: dict[Role, str]

    def as_role(self, role: Role) -> Session:
        return Session(self.client, self.tokens[role])

    def actor(self, label: str) -> str:
        """How the audit trail names the admin token labelled ``label``."""
        [found] = [t for t in self.control.store.list_admin_tokens() if t.label == label]
        return f"admin:{found.id} ({label})"

    @property
    def admin(self) -> Session:
        return self.as_role(Role.ADMIN)

    @property
    def manager(self) -> Session:
        return self.as_role(Role.POLICY_MANAGER)

    @property
    def viewer(self) -> Session:
        return self.as_role(Role.VIEWER)

    @property
    def anonymous(self) -> Session:
        return Session(self.client)

    @staticmethod
    def error_of(response: Response) -> dict[str, Any]:
        """The ``error`` object of an error response, checked for its shape."""
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"error"}, body
        error: dict[str, Any] = body["error"]
        assert {"code", "message"} <= set(error) <= {"code", "message", "problems"}, error
        return error

    # Values planted in upstreams, then looked for in every answer: none may come back.
    secret_env = "s3cr3t-kubeconfig-value"
    secret_header = "Bearer ghp_s3cr3t-header-value"

    def add_kubernetes(self, name: str = "kubernetes") -> Response:
        """Register a stdio upstream with a secret env value."""
        body = {
            "name": name,
            "command": "npx",
            "args": ["-y", "mcp-server-kubernetes"],
            "env": {"KUBE_TOKEN": self.secret_env},
        }
        return self.admin.post("/api/upstreams", json=body)

    def add_github(self, name: str = "github") -> Response:
        """Register a Streamable HTTP upstream with a secret header value."""
        body = {
            "name": name,
            "url": "https://api.example.com/mcp",
            "headers": {"Authorization": self.secret_header},
        }
        return self.admin.post("/api/upstreams", json=body)

    def set_seed_policy(self, name: str = "seed") -> Response:
        json_type = {"Content-Type": "application/json"}
        return self.manager.put(
            f"/api/policies/{name}", content=SEED_POLICY.read_bytes(), headers=json_type
        )

    def issue(self, label: str = "ci-runner", **extra: Any) -> Response:
        """Issue a grant on the kubernetes upstream under the seed policy."""
        body = {"label": label, "bindings": {"kubernetes": "seed"}, **extra}
        return self.admin.post("/api/grants", json=body)


def make_api(store: Store, clock: FakeClock, *, raise_server_exceptions: bool = True) -> Api:
    control = ControlPlane(store, clock)
    tokens = {
        role: control.create_admin_token(
            role, label=f"{role.value.replace('_', '-')}-1", actor="test"
        ).token
        for role in Role
    }
    client = TestClient(create_admin_app(control), raise_server_exceptions=raise_server_exceptions)
    return Api(control, clock, client, tokens)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """An empty store: in memory, or the SQLite store in a temporary ``MCPWALL_HOME``."""
    opened: Store
    if request.param == "memory":
        opened = MemoryStore(clock)
    else:
        opened = open_store(None, tmp_path / "home", clock=clock, environ={})
    yield opened
    opened.close()


@pytest.fixture
def api(store: Store, clock: FakeClock) -> Iterator[Api]:
    made = make_api(store, clock)
    with made.client:
        yield made


# -- what most tests need ----------------------------------------------------------------------


@pytest.fixture
def seeded(api: Api) -> Api:
    """An upstream of each kind and the seed policy; no grant yet."""
    assert api.add_kubernetes().status_code == 201
    assert api.add_github().status_code == 201
    assert api.set_seed_policy().status_code == 200
    return api

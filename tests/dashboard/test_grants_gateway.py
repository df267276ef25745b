"""The grants page in front of a running data plane, wired as ``mcpwall serve`` wires them:
what an agent's calls use up shows on the page, the token the page issued never reaches the
proxy log, and revoking it on the page refuses the agent's next call."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from starlette.testclient import TestClient

from mcpwall.adapters.counters import SQLCounters
from mcpwall.adapters.store import open_store
from mcpwall.adapters.upstream import Connector
from mcpwall.cli.serve import _admin_app
from mcpwall.control import ControlPlane
from mcpwall.core.registry import Role, Upstream
from mcpwall.dashboard.tail import Tails
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import MemoryCounters
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.store import Store
from mcpwall.wiring import DataPlane, build_data_plane
from tests.dashboard.conftest import ORIGIN, SEED_POLICY, Browser, Dashboard
from tests.gateway.conftest import K8S_TOOLS, FakeConnector
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = pytest.mark.anyio

DELETE = {"namespace": "staging", "name": "checkout-1"}


@dataclass
class Served:
    dashboard: Dashboard
    data_plane: DataPlane
    sink: MemorySink
    agents: httpx.AsyncClient

    async def call(self, token: str, tool: str, arguments: Mapping[str, object]) -> httpx.Response:
        return await self.agents.post(
            "/mcp/k8s",
            json=modern_body("tools/call", {"name": tool, "arguments": dict(arguments)}),
            headers=modern_headers(token, "tools/call", tool),
        )


@pytest.fixture(params=["memory", "sqlite"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    # The pipeline counts at the system's time, so the page reads at a clock set to it.
    clock = FakeClock(datetime.now(UTC))
    store: Store
    if request.param == "memory":
        store = MemoryStore(clock)
    else:
        store = open_store(None, tmp_path / "home", clock=clock, environ={})
    plane = ControlPlane(store, clock)
    store.add_upstream(Upstream.stdio("k8s", "kubectl-mcp"), actor="cli:root")
    plane.set_policy("seed", SEED_POLICY.read_text(), actor="cli:root")
    sink = MemorySink()
    connector = cast(Connector, FakeConnector({"k8s": K8S_TOOLS}))  # the port's shape
    data_plane = build_data_plane(
        store, tmp_path / "home", clock=clock, connector=connector, sink=sink
    )
    kind = MemoryCounters if request.param == "memory" else SQLCounters
    assert isinstance(data_plane.pipeline.counters, kind)
    tokens = {
        Role.ADMIN: plane.create_admin_token(Role.ADMIN, label="admin", actor="cli:root").token
    }
    tails = Tails()
    app = _admin_app(plane, data_plane, tails)
    dashboard = Dashboard(plane, clock, app, sink, tails, tokens, data_plane.pipeline.counters)
    transport = httpx.ASGITransport(app=data_plane.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8700") as agents:
        yield Served(dashboard, data_plane, sink, agents)
    tails.close()
    await data_plane.aclose()
    store.close()


def issue_on_the_page(admin: Browser) -> str:
    answer = admin.post("/grants/new", {"label": "agent", "bind.k8s": "seed"})
    assert answer.status_code == 200, answer.text
    [token] = re.findall(r'<code id="token">([^<]+)</code>', answer.text)
    return str(token)


def delete_pod_usage(admin: Browser) -> str:
    page = admin.get("/grants").text
    [found] = re.findall(r">(\d+ / 5 per hour \(grant\))<", page)
    return str(found)


async def test_an_agents_calls_show_as_usage_and_revoking_refuses_the_next(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    admin = served.dashboard.logged_in(Role.ADMIN)
    with caplog.at_level(logging.DEBUG):
        token = issue_on_the_page(admin)
        assert delete_pod_usage(admin) == "0 / 5 per hour (grant)"
        for _ in range(3):
            answer = await served.call(token, "delete_pod", DELETE)
            assert answer.status_code == 200
            assert "isError" not in answer.json()["result"]
        refused = await served.call(token, "delete_pod", {"namespace": "payments-prod"})
        assert refused.json()["result"]["isError"] is True  # refused by rule: took nothing
        assert delete_pod_usage(admin) == "3 / 5 per hour (grant)"

        [grant] = served.dashboard.control.store.list_grants()
        confirm = admin.get(f"/grants/{grant.id}/revoke")
        assert "401 Unauthorized" in confirm.text
        assert admin.post(f"/grants/{grant.id}/revoke").status_code == 303
        after = await served.call(token, "delete_pod", DELETE)
        assert after.status_code == 401
        assert served.dashboard.control.authenticate_grant(token) is None

    records: list[Any] = list(served.sink.records)
    assert len(records) == 4  # the refused 401 forwards nothing and is not a call of the grant
    assert {r.grant_id for r in records} == {grant.id}
    assert token not in repr(records)
    assert token not in caplog.text
    for path in ("/grants", "/audit", f"/grants/{grant.id}/revoke"):
        assert token not in admin.get(path).text


async def test_the_admin_app_of_serve_reads_the_data_planes_counters(served: Served) -> None:
    browser = Browser(TestClient(served.dashboard.app, base_url=ORIGIN))
    assert browser.get("/grants").status_code == 303  # a stranger: to the login page
    admin = served.dashboard.logged_in(Role.ADMIN)
    issue_on_the_page(admin)
    assert "Usage is unavailable" not in admin.get("/grants").text

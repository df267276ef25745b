"""``/api/upstreams/{name}/tools``, ``…/tools/{tool}/diff`` and ``…/accept``: reviewing and
accepting pins over the admin API, against a real stdio upstream whose definitions change."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mcpwall.core.audit import AuditFilter
from mcpwall.core.registry import Role
from tests.admin.conftest import Api
from tests.fixtures.definitions import DEFINITIONS_SERVER, POISON, Definitions


@pytest.fixture
def definitions(tmp_path: Path) -> Definitions:
    return Definitions.create(tmp_path)


@pytest.fixture
def pinned(api: Api, definitions: Definitions) -> Api:
    """Upstream k8s added through the API (pinning warn), all its tools accepted."""
    body = {
        "name": "k8s",
        "command": sys.executable,
        "args": [str(DEFINITIONS_SERVER)],
        "env": definitions.env(),
        "pinning": "warn",
    }
    added = api.admin.post("/api/upstreams", json=body)
    assert added.status_code == 201, added.text
    assert added.json()["pinning"] == "warn"
    assert api.control.store.get_pins("k8s").empty  # the API adds; the gateway pins on first use
    accepted = api.admin.post("/api/upstreams/k8s/accept", json={"all": True})
    assert accepted.status_code == 200, accepted.text
    assert set(accepted.json()["pinned"]) == {tool["name"] for tool in definitions.tools}
    assert accepted.json()["instructions"] is True
    return api


def statuses(api: Api) -> dict[str, str]:
    found = api.viewer.get("/api/upstreams/k8s/tools")
    assert found.status_code == 200, found.text
    return {tool["name"]: tool["status"] for tool in found.json()["tools"]}


def live_hash(api: Api, tool: str) -> str:
    review: dict[str, Any] = api.viewer.get("/api/upstreams/k8s/tools").json()
    [found] = [item for item in review["tools"] if item["name"] == tool]
    value: str = found["live_hash"]
    return value


def test_a_viewer_reviews_every_status(pinned: Api, definitions: Definitions) -> None:
    assert set(statuses(pinned).values()) == {"pinned"}
    definitions.rug_pull()
    review = pinned.viewer.get("/api/upstreams/k8s/tools").json()
    assert review["pinning"] == "warn"
    assert review["complete"] is True
    assert review["instructions"]["status"] == "pinned"
    by_name = {tool["name"]: tool for tool in review["tools"]}
    assert {name: tool["status"] for name, tool in by_name.items()} == {
        "delete_pod": "changed",
        "get_pod_logs": "changed",
        "describe_pod": "suspicious",
        "exec": "new",
        "list_pods": "removed",
    }
    assert by_name["describe_pod"]["findings"] == ["/description: U+200B"]
    assert by_name["describe_pod"]["description"] == "Describe<U+200B> a pod."
    assert by_name["list_pods"]["live_hash"] is None


def test_the_diff_shows_each_field(pinned: Api, definitions: Definitions) -> None:
    definitions.rug_pull()
    diff = pinned.viewer.get("/api/upstreams/k8s/tools/get_pod_logs/diff")
    assert diff.status_code == 200, diff.text
    body = diff.json()
    assert body["status"] == "changed"
    [field] = body["fields"]
    assert field["field"] == "inputSchema"
    assert field["changes"] == [
        {
            "pointer": "/inputSchema/properties/command",
            "change": "added",
            "old": None,
            "new": '{"type":"string"}',
        }
    ]
    assert body["live"] == definitions.tool("get_pod_logs")
    text = pinned.viewer.get("/api/upstreams/k8s/tools/delete_pod/diff").json()
    assert f"+{POISON}" in text["lines"]
    missing = pinned.viewer.get("/api/upstreams/k8s/tools/nope/diff")
    assert missing.status_code == 404
    assert 'tool "nope"' in pinned.error_of(missing)["message"]


def test_accept_with_a_stale_hash_conflicts_and_the_right_one_pins(
    pinned: Api, definitions: Definitions
) -> None:
    definitions.rug_pull()
    reviewed = live_hash(pinned, "delete_pod")
    definitions.tool("delete_pod")["description"] += " And its namespace."
    definitions.write()
    stale = pinned.admin.post(
        "/api/upstreams/k8s/accept", json={"tools": ["delete_pod"], "expect": reviewed}
    )
    assert stale.status_code == 409
    assert "changed again after the review" in pinned.error_of(stale)["message"]

    current = live_hash(pinned, "delete_pod")
    accepted = pinned.admin.post(
        "/api/upstreams/k8s/accept", json={"tools": ["delete_pod"], "expect": current}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {
        "upstream": "k8s",
        "pinned": {"delete_pod": current},
        "unpinned": [],
        "instructions": False,
        "skipped": {},
    }
    assert statuses(pinned)["delete_pod"] == "pinned"
    [event] = pinned.control.store.list_audit(limit=1, only=AuditFilter(action="upstream.pin"))
    assert event.actor == pinned.actor("admin-1")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.POLICY_MANAGER])
def test_only_an_admin_accepts(pinned: Api, definitions: Definitions, role: Role) -> None:
    definitions.rug_pull()
    refused = pinned.as_role(role).post("/api/upstreams/k8s/accept", json={"all": True})
    assert refused.status_code == 403
    assert statuses(pinned)["exec"] == "new"
    assert pinned.anonymous.get("/api/upstreams/k8s/tools").status_code == 401


def test_a_body_that_cannot_be_read_is_refused(pinned: Api) -> None:
    for body, status in (
        ({"tools": ["delete_pod", "exec"], "expect": "v1:00"}, 422),
        ({"all": "yes"}, 422),
        ({"tool": ["delete_pod"]}, 422),
        ({}, 422),
    ):
        answer = pinned.admin.post("/api/upstreams/k8s/accept", json=body)
        assert answer.status_code == status, (body, answer.text)


def test_an_unreachable_upstream_is_a_bad_gateway(api: Api) -> None:
    body = {"name": "gone", "command": "/nonexistent/mcp-server", "env": {"K": api.secret_env}}
    assert api.admin.post("/api/upstreams", json=body).status_code == 201
    answer = api.viewer.get("/api/upstreams/gone/tools")
    assert answer.status_code == 502
    error = api.error_of(answer)
    assert error["code"] == "upstream_unavailable"
    assert "no such program" in error["message"]
    assert api.secret_env not in answer.text

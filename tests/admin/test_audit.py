"""``/api/audit``: every change names the admin token that made it, and no secret or token."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from tests.admin.conftest import Api


def make_changes(api: Api) -> list[str]:
    """One change of every kind through the API; returns every token and secret it saw."""
    seen = [api.secret_env, api.secret_header, *api.tokens.values()]
    api.add_kubernetes()
    api.add_github()
    api.set_seed_policy()
    seen.append(api.issue("ci-runner").json()["token"])
    seen.append(api.admin.post("/api/grants/ci-runner/rotate").json()["token"])
    api.admin.post("/api/grants/ci-runner/revoke")
    created = api.admin.post("/api/admin-tokens", json={"role": "viewer", "label": "bob"}).json()
    seen.append(created["token"])
    api.admin.post(f"/api/admin-tokens/{created['id']}/revoke")
    api.admin.delete("/api/upstreams/github")
    return seen


def test_every_change_is_recorded_with_its_actor_newest_first(api: Api) -> None:
    make_changes(api)
    events = api.viewer.get("/api/audit").json()["events"]
    made = [(e["actor"], e["action"], e["object_kind"]) for e in reversed(events)]
    setup = [("test", "admin_token.create", "admin_token")] * 3
    admin, manager = api.actor("admin-1"), api.actor("policy-manager-1")
    assert made == [
        *setup,
        (admin, "upstream.add", "upstream"),
        (admin, "upstream.add", "upstream"),
        (manager, "policy.set", "policy"),
        (admin, "grant.issue", "grant"),
        (admin, "grant.rotate", "grant"),
        (admin, "grant.revoke", "grant"),
        (admin, "admin_token.create", "admin_token"),
        (admin, "admin_token.revoke", "admin_token"),
        (admin, "upstream.remove", "upstream"),
    ]
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    policy_set = next(e for e in events if e["action"] == "policy.set")
    assert policy_set["object_id"] == "seed"
    assert policy_set["details"] == {"version": 1}
    assert policy_set["at"] == "2026-01-01T00:00:00+00:00"


def test_the_audit_trail_holds_no_token_and_no_secret_value(api: Api) -> None:
    seen = make_changes(api)
    trail = json.dumps(api.viewer.get("/api/audit?limit=1000").json())
    for value in seen:
        assert value not in trail
    upstream_added = next(e for e in api.control.store.list_audit() if e.object_id == "kubernetes")
    assert upstream_added.details["env_keys"] == ["KUBE_TOKEN"]


def test_no_answer_ever_carries_a_secret_value(api: Api) -> None:
    responses = [api.add_kubernetes(), api.add_github(), api.set_seed_policy(), api.issue()]
    reads = [
        *("upstreams", "upstreams/kubernetes", "upstreams/github", "grants", "admin-tokens"),
        *("audit", "policies", "policies/seed", "policies/seed/versions/1"),
    ]
    responses += [api.viewer.get(f"/api/{path}") for path in reads]
    responses.append(api.add_kubernetes())  # a conflict names the upstream, not its values
    responses.append(api.admin.delete("/api/upstreams/kubernetes"))  # bound: refused
    for response in responses:
        assert api.secret_env not in response.text, response.request.url
        assert "s3cr3t-header" not in response.text, response.request.url


def test_tokens_appear_only_in_the_answer_that_made_them(api: Api) -> None:
    api.add_kubernetes()
    api.set_seed_policy()
    grant_token = api.issue().json()["token"]
    admin_token = api.admin.post("/api/admin-tokens", json={"role": "viewer"}).json()["token"]
    for path in ("/api/grants", "/api/grants/ci-runner", "/api/admin-tokens", "/api/audit"):
        text = api.viewer.get(path).text
        assert grant_token not in text
        assert admin_token not in text
        assert "mcpw" not in text  # no token of any kind, not even a prefix


def test_pages_go_back_with_next_before(api: Api) -> None:
    for name in ("a", "b", "c", "d"):
        api.admin.post("/api/upstreams", json={"name": name, "command": "x"})
    first = api.viewer.get("/api/audit?limit=3").json()
    assert [e["object_id"] for e in first["events"]] == ["d", "c", "b"]
    second = api.viewer.get(f"/api/audit?limit=3&before={first['next_before']}").json()
    assert [e["object_id"] for e in second["events"]][:1] == ["a"]
    assert len(second["events"]) == 3  # "a" and two of the setup's token creations
    last = api.viewer.get(f"/api/audit?limit=3&before={second['next_before']}").json()
    assert len(last["events"]) == 1
    assert last["next_before"] is None


def test_the_trail_is_filtered_on_who_what_and_which_object(api: Api) -> None:
    for name in ("a", "b"):
        api.admin.post("/api/upstreams", json={"name": name, "command": "x"})
    api.admin.delete("/api/upstreams/a")

    def ids(query: str) -> list[tuple[str, str]]:
        events = api.viewer.get(f"/api/audit?{query}").json()["events"]
        return [(e["action"], e["object_id"]) for e in events]

    assert ids("action=upstream") == [
        ("upstream.remove", "a"),
        ("upstream.add", "b"),
        ("upstream.add", "a"),
    ]
    assert ids("action=upstream.add&object_id=a") == [("upstream.add", "a")]
    assert ids(f"actor={quote(api.actor('admin-1'))}&object_kind=upstream")[0] == (
        "upstream.remove",
        "a",
    )
    refused = api.viewer.get("/api/audit?object_kind=planet")
    assert refused.status_code == 422
    assert "object kind" in api.error_of(refused)["message"]


def test_bad_paging_is_refused(api: Api) -> None:
    for query, code in (
        ("limit=0", "invalid_value"),
        ("limit=1001", "invalid_value"),
        ("limit=ten", "invalid_value"),
        ("before=0", "invalid_value"),
        ("before=-1", "invalid_value"),
        ("limit=1&limit=2", "invalid_query"),
        ("since=7d", "invalid_query"),
    ):
        response = api.viewer.get(f"/api/audit?{query}")
        assert response.status_code == 422, query
        assert api.error_of(response)["code"] == code, query
    assert (
        "expected: action, actor, before, limit, object_id, object_kind"
        in api.error_of(api.viewer.get("/api/audit?x=1"))["message"]
    )

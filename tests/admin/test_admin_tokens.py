"""``/api/admin-tokens``: create (token shown once), list, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpwall.core.registry import Role

if TYPE_CHECKING:
    from tests.admin.conftest import Api


def test_create_answers_with_a_working_token_once(api: Api) -> None:
    created = api.admin.post("/api/admin-tokens", json={"role": "viewer", "label": "alice"})
    assert created.status_code == 201
    body = created.json()
    token = body.pop("token")
    assert token.startswith("mcpwa_")
    assert body["role"] == "viewer"
    assert body["label"] == "alice"
    assert body["created_by"] == api.actor("admin-1")
    assert body["status"] == "active"
    assert body["expires_at"] is None
    listed = api.viewer.get("/api/admin-tokens").json()["admin_tokens"]
    assert sorted(t["label"] for t in listed) == [
        "admin-1",
        "alice",
        "policy-manager-1",
        "viewer-1",
    ]
    assert all("token" not in t for t in listed)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.anonymous.get("/api/upstreams", headers=headers).status_code == 200


def test_a_token_without_a_label_is_named_by_its_id_in_the_audit_trail(api: Api) -> None:
    created = api.admin.post("/api/admin-tokens", json={"role": "admin", "expires_in": 60})
    body = created.json()
    assert body["label"] is None
    assert body["expires_at"] == "2026-01-01T00:01:00+00:00"
    headers = {"Authorization": f"Bearer {body['token']}"}
    api.anonymous.post("/api/upstreams", json={"name": "a", "command": "x"}, headers=headers)
    latest = api.viewer.get("/api/audit?limit=1").json()["events"][0]
    assert latest["actor"] == f"admin:{body['id']}"


def test_revoke_stops_the_token_at_once(api: Api) -> None:
    created = api.admin.post("/api/admin-tokens", json={"role": "admin"}).json()
    revoked = api.admin.post(f"/api/admin-tokens/{created['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert api.anonymous.get("/api/upstreams", headers=headers).status_code == 401


def test_a_role_is_required_and_checked(api: Api) -> None:
    for body, pointer in (
        ({}, "/role"),
        ({"role": "root"}, "/role"),
        ({"role": "viewer", "label": 5}, "/label"),
        ({"role": "viewer", "lable": "x"}, "/lable"),
    ):
        response = api.admin.post("/api/admin-tokens", json=body)
        assert response.status_code == 422, body
        assert [p["pointer"] for p in api.error_of(response)["problems"]] == [pointer]
    response = api.admin.post("/api/admin-tokens", json={"role": "viewer", "label": "Alice"})
    assert response.status_code == 422
    assert 'admin token label "Alice"' in api.error_of(response)["message"]
    assert len(api.control.store.list_admin_tokens()) == len(Role)


def test_an_unknown_admin_token_is_not_found(api: Api) -> None:
    response = api.admin.post("/api/admin-tokens/adm_0000000000000000/revoke")
    assert response.status_code == 404
    assert api.error_of(response)["message"] == 'admin token "adm_0000000000000000" not found'

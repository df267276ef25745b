"""``/api/grants``: issue (token shown once), list, show, revoke, rotate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpwall.core.tokens import hash_token

if TYPE_CHECKING:
    from tests.admin.conftest import Api


def test_issue_answers_with_the_token_once_and_keeps_only_its_hash(seeded: Api) -> None:
    issued = seeded.issue("ci-runner", expires_in=3600)
    assert issued.status_code == 201
    body = issued.json()
    token = body.pop("token")
    assert token.startswith("mcpw_")
    assert body == {
        "id": body["id"],
        "label": "ci-runner",
        "bindings": {"kubernetes": "seed"},
        "created_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2026-01-01T01:00:00+00:00",
        "revoked_at": None,
        "last_used_at": None,
        "status": "active",
    }
    assert body["id"].startswith("grt_")
    assert seeded.control.authenticate_grant(token) is not None
    assert seeded.control.store.get_grant(body["id"]).token_hash == hash_token(token)
    assert seeded.viewer.get("/api/grants").json() == {"grants": [body]}
    assert seeded.viewer.get(f"/api/grants/{body['id']}").json() == body
    assert seeded.viewer.get("/api/grants/ci-runner").json() == body


def test_a_grant_expires(seeded: Api) -> None:
    seeded.issue("short", expires_in=60)
    seeded.clock.advance(60)
    assert seeded.viewer.get("/api/grants/short").json()["status"] == "expired"


def test_a_duplicate_label_is_a_conflict(seeded: Api) -> None:
    seeded.issue("ci-runner")
    again = seeded.issue("ci-runner")
    assert again.status_code == 409
    assert 'grant label "ci-runner" is used by active grant' in seeded.error_of(again)["message"]
    assert len(seeded.viewer.get("/api/grants").json()["grants"]) == 1


def test_an_unknown_upstream_or_policy_in_a_binding_is_not_found(seeded: Api) -> None:
    for bindings, message in (
        ({"nope": "seed"}, 'binding nope=seed: upstream "nope" not found'),
        ({"kubernetes": "nope"}, 'binding kubernetes=nope: policy "nope" not found'),
    ):
        response = seeded.admin.post("/api/grants", json={"label": "a", "bindings": bindings})
        assert response.status_code == 404
        assert seeded.error_of(response) == {"code": "not_found", "message": message}
    assert seeded.viewer.get("/api/grants").json() == {"grants": []}


def test_bindings_and_expiry_are_checked(seeded: Api) -> None:
    for body, expected in (
        ({"label": "a", "bindings": {}}, "at least one UPSTREAM=POLICY binding"),
        ({"label": "a", "bindings": {"kubernetes": "Seed"}}, "policy name"),
        ({"label": "A", "bindings": {"kubernetes": "seed"}}, "grant label"),
    ):
        response = seeded.admin.post("/api/grants", json=body)
        assert response.status_code == 422, body
        assert expected in seeded.error_of(response)["message"]
    for expires_in in (0, -5, 1.5, "30d", True, 36500 * 86400 + 1):
        response = seeded.issue("a", expires_in=expires_in)
        assert response.status_code == 422, expires_in
        problems = seeded.error_of(response)["problems"]
        assert problems[0]["pointer"] == "/expires_in"
        assert "expected a whole number from 1 to 3153600000" in problems[0]["message"]
    assert seeded.issue("a", expires_in=30.0).status_code == 201  # one number type in JSON


def test_revoke_stops_the_token_and_frees_the_label(seeded: Api) -> None:
    token = seeded.issue("ci-runner").json()["token"]
    seeded.clock.advance(5)
    revoked = seeded.admin.post("/api/grants/ci-runner/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_at"] == "2026-01-01T00:00:05+00:00"
    assert "token" not in revoked.json()
    assert seeded.control.authenticate_grant(token) is None
    assert seeded.issue("ci-runner").status_code == 201


def test_rotate_gives_a_new_token_and_the_old_one_stops(seeded: Api) -> None:
    old = seeded.issue("ci-runner").json()
    rotated = seeded.admin.post(f"/api/grants/{old['id']}/rotate")
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["id"] == old["id"]
    assert new["token"] != old["token"]
    assert seeded.control.authenticate_grant(old["token"]) is None
    assert seeded.control.authenticate_grant(new["token"]) is not None


def test_a_revoked_grant_cannot_be_rotated(seeded: Api) -> None:
    seeded.issue("ci-runner")
    seeded.admin.post("/api/grants/ci-runner/revoke")
    refused = seeded.admin.post("/api/grants/ci-runner/rotate")
    # The label is free once revoked, so it no longer names the grant.
    assert refused.status_code == 404
    grant_id = seeded.viewer.get("/api/grants").json()["grants"][0]["id"]
    refused = seeded.admin.post(f"/api/grants/{grant_id}/rotate")
    assert refused.status_code == 409
    assert "is revoked; issue a new grant" in seeded.error_of(refused)["message"]


def test_an_unknown_grant_is_not_found(seeded: Api) -> None:
    for response in (
        seeded.viewer.get("/api/grants/nope"),
        seeded.admin.post("/api/grants/nope/revoke"),
        seeded.admin.post("/api/grants/grt_0000000000000000/rotate"),
    ):
        assert response.status_code == 404
        assert seeded.error_of(response)["code"] == "not_found"

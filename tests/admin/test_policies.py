"""``/api/policies``: set a document (JSON or YAML, exactly as a file), read its versions back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.admin.conftest import Api

YAML_POLICY = """\
# kept exactly, comments included
version: "1"
default: deny
tools:
  get_pod_logs: {}
"""

INVALID = {
    "version": "1",
    "default": "alow",
    "tools": {
        "delete_pod": {
            "deney_if": [],
            "require": [{"conditions": [{"path": "args.namespace", "op": "in_list", "value": []}]}],
        }
    },
}


def test_set_stores_version_one_then_two_and_lists_the_current_one(api: Api) -> None:
    first = api.set_seed_policy()
    assert first.status_code == 200
    assert first.json() == {
        "name": "seed",
        "version": 1,
        "created_at": "2026-01-01T00:00:00+00:00",
        "created_by": api.actor("policy-manager-1"),
        "warnings": [],
    }
    api.clock.advance(60)
    second = api.manager.put(
        "/api/policies/seed", content=YAML_POLICY, headers={"Content-Type": "application/yaml"}
    )
    assert second.json()["version"] == 2
    listed = api.viewer.get("/api/policies").json()
    assert listed == {
        "policies": [
            {
                "name": "seed",
                "version": 2,
                "created_at": "2026-01-01T00:01:00+00:00",
                "created_by": api.actor("policy-manager-1"),
            }
        ]
    }


def test_every_version_reads_back_exactly_as_it_was_set(api: Api) -> None:
    seed_text = api.set_seed_policy().request.content.decode()
    api.manager.put("/api/policies/seed", content=YAML_POLICY)  # no type: read as what it is
    current = api.viewer.get("/api/policies/seed").json()
    assert current["version"] == 2
    assert current["text"] == YAML_POLICY
    first = api.viewer.get("/api/policies/seed/versions/1").json()
    assert first["text"] == seed_text
    assert api.viewer.get("/api/policies/seed/versions/2").json() == current
    versions = api.viewer.get("/api/policies/seed/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert all("text" not in v for v in versions)


def test_lint_warnings_come_back_with_the_stored_version(api: Api) -> None:
    fail_open = {
        "version": "1",
        "default": "deny",
        "tools": {
            "scale": {
                "require": [
                    {"conditions": [{"path": "args.namespace", "op": "regex", "value": "dev"}]}
                ]
            }
        },
    }
    response = api.manager.put("/api/policies/lint", json=fail_open)
    assert response.status_code == 200
    warnings = response.json()["warnings"]
    assert [w["pointer"] for w in warnings] == ["/tools/scale/require/0/conditions/0/value"]
    assert "not anchored" in warnings[0]["message"]


def test_an_invalid_policy_gets_every_problem_and_is_never_stored(api: Api) -> None:
    api.set_seed_policy()
    audit_before = api.viewer.get("/api/audit").json()["events"]
    response = api.manager.put("/api/policies/seed", json=INVALID)
    assert response.status_code == 422
    error = api.error_of(response)
    assert error["code"] == "invalid_policy"
    assert error["message"] == "invalid policy (3 problems)"
    problems = {p["pointer"]: p["message"] for p in error["problems"]}
    assert set(problems) == {
        "/default",
        "/tools/delete_pod/deney_if",
        "/tools/delete_pod/require/0/conditions/0/op",
    }
    assert 'did you mean "allow"?' in problems["/default"]
    assert 'unknown operator "in_list"' in problems["/tools/delete_pod/require/0/conditions/0/op"]
    assert api.viewer.get("/api/policies/seed").json()["version"] == 1
    assert api.viewer.get("/api/audit").json()["events"] == audit_before


def test_an_invalid_new_policy_leaves_no_trace(api: Api) -> None:
    for text, media_type in (
        ("{not json", "application/json"),
        ("version: [", "application/yaml"),
        ("", "text/plain"),
        ("\udcff", "text/plain"),
    ):
        body = text.encode("utf-8", "surrogateescape")
        response = api.manager.put(
            "/api/policies/fresh", content=body, headers={"Content-Type": media_type}
        )
        assert response.status_code == 422, text
        assert api.error_of(response)["code"] == "invalid_policy"
        assert api.error_of(response)["problems"], text
    assert api.viewer.get("/api/policies/fresh").status_code == 404
    assert api.viewer.get("/api/policies").json() == {"policies": []}


def test_a_policy_name_is_checked_before_the_document(api: Api) -> None:
    response = api.manager.put("/api/policies/Bad_Name", json=INVALID)
    assert response.status_code == 422
    error = api.error_of(response)
    assert error["code"] == "invalid_value"
    assert error["message"].startswith('policy name "Bad_Name"')


def test_unknown_policies_and_versions_are_not_found(api: Api) -> None:
    api.set_seed_policy()
    for path, message in (
        ("/api/policies/nope", 'policy "nope" not found'),
        ("/api/policies/nope/versions", 'policy "nope" not found'),
        ("/api/policies/nope/versions/1", 'policy "nope" not found'),
        ("/api/policies/seed/versions/2", 'policy "seed": version "2" not found (latest is 1)'),
    ):
        response = api.viewer.get(path)
        assert response.status_code == 404, path
        assert api.error_of(response)["message"] == message


def test_a_version_must_be_a_whole_number(api: Api) -> None:
    api.set_seed_policy()
    for version in ("0", "x", "1.0", "-1", "99999999999", "١"):
        response = api.viewer.get(f"/api/policies/seed/versions/{version}")
        assert response.status_code == 422, version
        error = api.error_of(response)
        assert error["code"] == "invalid_value"
        assert "expected a whole number from 1 to 2147483647" in error["message"]


def test_a_policy_body_of_another_media_type_is_refused(api: Api) -> None:
    response = api.manager.put(
        "/api/policies/seed",
        content=json.dumps(INVALID),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    error = api.error_of(response)
    assert error["code"] == "unsupported_media_type"
    assert "application/yaml" in error["message"]

"""Who may call what: bearer admin tokens (401) and roles (403), on every operation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mcpwall.admin.openapi import DOCUMENT
from mcpwall.core.registry import Role
from tests.fixtures.definitions import Definitions

if TYPE_CHECKING:
    from tests.admin.conftest import Api

VIEWER, POLICY_MANAGER, ADMIN = Role.VIEWER, Role.POLICY_MANAGER, Role.ADMIN
SEED_TEXT = '{"version": "1", "default": "allow"}'

# Every operation, the lowest role that may call it, and a valid request for it.
OPERATIONS: list[tuple[str, str, Role, dict[str, Any]]] = [
    ("GET", "/api/upstreams", VIEWER, {}),
    ("POST", "/api/upstreams", ADMIN, {"json": {"name": "new", "command": "x"}}),
    ("GET", "/api/upstreams/github", VIEWER, {}),
    ("DELETE", "/api/upstreams/github", ADMIN, {}),
    ("GET", "/api/upstreams/listed/tools", VIEWER, {}),
    ("GET", "/api/upstreams/listed/tools/delete_pod/diff", VIEWER, {}),
    ("POST", "/api/upstreams/listed/accept", ADMIN, {"json": {"all": True}}),
    ("GET", "/api/policies", VIEWER, {}),
    ("PUT", "/api/policies/seed", POLICY_MANAGER, {"content": SEED_TEXT}),
    ("GET", "/api/policies/seed", VIEWER, {}),
    ("GET", "/api/policies/seed/versions", VIEWER, {}),
    ("GET", "/api/policies/seed/versions/1", VIEWER, {}),
    ("GET", "/api/grants", VIEWER, {}),
    ("POST", "/api/grants", ADMIN, {"json": {"label": "new", "bindings": {"kubernetes": "seed"}}}),
    ("GET", "/api/grants/ci-runner", VIEWER, {}),
    ("POST", "/api/grants/ci-runner/revoke", ADMIN, {}),
    ("POST", "/api/grants/ci-runner/rotate", ADMIN, {}),
    ("GET", "/api/admin-tokens", VIEWER, {}),
    ("POST", "/api/admin-tokens", ADMIN, {"json": {"role": "admin"}}),
    ("POST", "/api/admin-tokens/{viewer}/revoke", ADMIN, {}),
    ("GET", "/api/audit", VIEWER, {}),
    ("GET", "/api/logs", VIEWER, {}),
    ("GET", "/api/logs/summary", VIEWER, {}),
    ("GET", "/metrics", VIEWER, {}),
]


@pytest.fixture
def ready(seeded: Api, tmp_path: Path) -> Api:
    """The seeded API with a grant, and an upstream that lists its tools (a real process), so
    that every operation above has its object."""
    assert seeded.issue("ci-runner").status_code == 201
    listed = Definitions.create(tmp_path).upstream("listed")
    seeded.control.store.add_upstream(listed, actor="test")
    return seeded


def resolve(api: Api, path: str) -> str:
    viewer_id = api.control.authenticate_admin(api.tokens[VIEWER])
    assert viewer_id is not None
    return path.replace("{viewer}", viewer_id.id)


def test_the_table_covers_every_documented_operation_once() -> None:
    for path, item in DOCUMENT["paths"].items():
        pattern = re.compile(re.sub(r"\{[^}/]+\}", "[^/]+", path))
        for method in item:
            rows = [
                row for row in OPERATIONS if row[0] == method.upper() and pattern.fullmatch(row[1])
            ]
            assert len(rows) == (path != "/api/openapi.json"), (method, path)
    assert len(OPERATIONS) == sum(len(item) for item in DOCUMENT["paths"].values()) - 1


@pytest.mark.parametrize(("method", "path", "needed", "request_"), OPERATIONS)
def test_a_role_below_the_one_needed_is_refused_and_changes_nothing(
    ready: Api, method: str, path: str, needed: Role, request_: dict[str, Any]
) -> None:
    path = resolve(ready, path)
    audit = ready.control.store.list_audit()
    for role in Role:
        if role.includes(needed):
            continue
        response = ready.as_role(role).request(method, path, **request_)
        assert response.status_code == 403, (role, response.text)
        error = ready.error_of(response)
        assert error["code"] == "forbidden"
        assert error["message"] == (
            f"this needs role {needed.value} or higher; this token has role {role.value}"
        )
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="mcpwall admin", error="insufficient_scope"'
        )
    assert ready.control.store.list_audit() == audit


@pytest.mark.parametrize(("method", "path", "needed", "request_"), OPERATIONS)
def test_the_role_needed_and_those_above_it_are_let_through(
    ready: Api, method: str, path: str, needed: Role, request_: dict[str, Any]
) -> None:
    path = resolve(ready, path)
    for role in Role:
        if role.includes(needed):
            response = ready.as_role(role).request(method, path, **request_)
            assert response.status_code < 300, (role, response.text)


@pytest.mark.parametrize(("method", "path", "needed", "request_"), OPERATIONS)
def test_a_missing_or_unusable_token_is_401_with_www_authenticate(
    ready: Api, method: str, path: str, needed: Role, request_: dict[str, Any]
) -> None:
    path = resolve(ready, path)
    ready.clock.advance(1)
    expired = ready.control.create_admin_token(ADMIN, expires_in=1, actor="test").token
    revoked = ready.control.create_admin_token(ADMIN, actor="test")
    ready.control.store.revoke_admin_token(revoked.admin_token.id, actor="test")
    ready.clock.advance(1)
    unknown = ready.tokens[ADMIN][:-4] + "AAAA"
    audit = ready.control.store.list_audit()
    for headers, code in (
        ({}, "unauthenticated"),
        ({"Authorization": f"Basic {ready.tokens[ADMIN]}"}, "unauthenticated"),
        ({"Authorization": "Bearer "}, "unauthenticated"),
        ({"Authorization": "Bearer mcpw_not-an-admin-token"}, "invalid_token"),
        ({"Authorization": f"Bearer {unknown}"}, "invalid_token"),
        ({"Authorization": f"Bearer {expired}"}, "invalid_token"),
        ({"Authorization": f"Bearer {revoked.token}"}, "invalid_token"),
    ):
        response = ready.anonymous.request(method, path, headers=headers, **request_)
        assert response.status_code == 401, headers
        assert ready.error_of(response)["code"] == code
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="mcpwall admin"')
        assert ('error="invalid_token"' in challenge) == (code == "invalid_token")
    assert ready.control.store.list_audit() == audit


def test_the_scheme_is_case_insensitive(api: Api) -> None:
    headers = {"Authorization": f"bearer {api.tokens[VIEWER]}"}
    assert api.anonymous.get("/api/upstreams", headers=headers).status_code == 200


def test_a_token_in_use_records_when_it_was_last_used(api: Api) -> None:
    api.clock.advance(30)
    api.viewer.get("/api/upstreams")
    tokens = {t["label"]: t for t in api.viewer.get("/api/admin-tokens").json()["admin_tokens"]}
    assert tokens["viewer-1"]["last_used_at"] == "2026-01-01T00:00:30+00:00"
    assert tokens["admin-1"]["last_used_at"] is None


def test_the_openapi_document_needs_no_token(api: Api) -> None:
    response = api.anonymous.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"

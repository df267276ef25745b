"""``/api/upstreams``: register, list, show and remove; secret values never come back."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.admin.conftest import Api


def test_register_a_stdio_upstream_and_read_it_back_with_values_masked(api: Api) -> None:
    added = api.add_kubernetes()
    assert added.status_code == 201
    expected = {
        "name": "kubernetes",
        "kind": "stdio",
        "command": "npx",
        "args": ["-y", "mcp-server-kubernetes"],
        "cwd": None,
        "env": {"KUBE_TOKEN": "***"},
        "pinning": "enforce",
    }
    assert added.json() == expected
    assert api.viewer.get("/api/upstreams/kubernetes").json() == expected
    assert api.viewer.get("/api/upstreams").json() == {"upstreams": [expected]}


def test_register_http_and_sse_upstreams(api: Api) -> None:
    assert api.add_github().json() == {
        "name": "github",
        "kind": "http",
        "url": "https://api.example.com/mcp",
        "headers": {"Authorization": "***"},
        "pinning": "enforce",
    }
    legacy = {"name": "legacy", "kind": "sse", "url": "http://127.0.0.1:9000/sse"}
    assert api.admin.post("/api/upstreams", json=legacy).json()["kind"] == "sse"
    names = [u["name"] for u in api.viewer.get("/api/upstreams").json()["upstreams"]]
    assert names == ["github", "legacy"]


def test_the_secret_values_are_stored_as_given(api: Api) -> None:
    api.add_kubernetes()
    api.add_github()
    store = api.control.store
    assert dict(store.get_upstream("kubernetes").env) == {"KUBE_TOKEN": api.secret_env}
    assert dict(store.get_upstream("github").headers) == {"Authorization": api.secret_header}


def test_a_taken_name_is_a_conflict(api: Api) -> None:
    api.add_kubernetes()
    again = api.add_kubernetes()
    assert again.status_code == 409
    error = api.error_of(again)
    assert error["code"] == "conflict"
    assert 'upstream "kubernetes" already exists' in error["message"]


def test_remove_an_upstream(api: Api) -> None:
    api.add_kubernetes()
    removed = api.admin.delete("/api/upstreams/kubernetes")
    assert removed.status_code == 204
    assert removed.content == b""
    assert api.viewer.get("/api/upstreams/kubernetes").status_code == 404


def test_removing_an_upstream_that_active_grants_use_is_refused_naming_them(seeded: Api) -> None:
    seeded.issue("ci-runner")
    refused = seeded.admin.delete("/api/upstreams/kubernetes")
    assert refused.status_code == 409
    assert "ci-runner" in seeded.error_of(refused)["message"]
    assert seeded.viewer.get("/api/upstreams/kubernetes").status_code == 200


def test_an_unknown_upstream_is_not_found(api: Api) -> None:
    for response in (
        api.viewer.get("/api/upstreams/nope"),
        api.admin.delete("/api/upstreams/nope"),
    ):
        assert response.status_code == 404
        error = api.error_of(response)
        assert error == {"code": "not_found", "message": 'upstream "nope" not found'}


def test_a_malformed_url_or_name_or_mixed_kinds_are_refused_with_what_was_expected(
    api: Api,
) -> None:
    cases = {
        "ftp": ({"name": "a", "url": "ftp://example.com"}, "an http:// or https:// URL"),
        "name": ({"name": "Bad_Name", "command": "x"}, "a lowercase letter or digit"),
        "mixed": (
            {"name": "a", "command": "x", "url": "https://example.com"},
            "no url or headers (they belong to http and sse upstreams)",
        ),
        "nothing": ({"name": "a"}, "an http:// or https:// URL"),
        "env key": ({"name": "a", "command": "x", "env": {"1X": "v"}}, "a letter or _"),
    }
    for case, (body, expected) in cases.items():
        response = api.admin.post("/api/upstreams", json=body)
        assert response.status_code == 422, case
        error = api.error_of(response)
        assert error["code"] == "invalid_value", case
        assert expected in error["message"], (case, error)
    assert api.viewer.get("/api/upstreams").json() == {"upstreams": []}


def test_a_bad_header_value_is_refused_without_showing_it(api: Api) -> None:
    body = {"name": "a", "url": "https://example.com", "headers": {"X-Key": "se\ncret"}}
    response = api.admin.post("/api/upstreams", json=body)
    assert response.status_code == 422
    assert "cret" not in response.text
    assert "not shown, 7 characters" in api.error_of(response)["message"]

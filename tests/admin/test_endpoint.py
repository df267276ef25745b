"""How requests are taken: methods, media types, body limits, query parameters, order of checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mcpwall.admin.endpoint import MAX_BODY_BYTES

if TYPE_CHECKING:
    from tests.admin.conftest import Api


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked: it declares no length."""
    while total > 0:
        yield b" " * min(size, total)
        total -= size


def test_a_body_over_the_limit_is_refused_and_nothing_is_written(api: Api) -> None:
    big = b'{"name": "a", "command": "x", "args": ["' + b"x" * MAX_BODY_BYTES + b'"]}'
    response = api.admin.post("/api/upstreams", content=big)
    assert response.status_code == 413
    error = api.error_of(response)
    assert error == {
        "code": "body_too_large",
        "message": "the request body is over 1048576 bytes (expected at most that)",
    }
    assert api.viewer.get("/api/upstreams").json() == {"upstreams": []}


def test_a_chunked_body_is_cut_off_at_the_limit(api: Api) -> None:
    response = api.manager.put("/api/policies/big", content=chunks(MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert api.viewer.get("/api/policies").json() == {"policies": []}


def test_a_body_at_the_limit_is_read(api: Api) -> None:
    document = b'{"version": "1", "default": "allow"}'
    body = document + b" " * (MAX_BODY_BYTES - len(document))
    assert api.manager.put("/api/policies/big", content=body).status_code == 200


def test_the_token_is_checked_before_the_body_is_read(api: Api) -> None:
    headers = {"Authorization": "Bearer mcpwa_" + "A" * 43}
    response = api.anonymous.post("/api/upstreams", content=b"{" * 10, headers=headers)
    assert response.status_code == 401
    response = api.viewer.post("/api/upstreams", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 403


def test_malformed_json_is_400(api: Api) -> None:
    response = api.admin.post(
        "/api/upstreams", content=b'{"name": "a",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = api.error_of(response)
    assert error["code"] == "malformed_json"
    assert error["message"] == "not valid JSON: unexpected end of data at line 1, column 14"
    assert error["problems"] == [{"pointer": "", "message": error["message"]}]


def test_wrong_types_and_unknown_fields_are_422_with_every_problem(api: Api) -> None:
    body = {"name": ["x"], "command": "x", "enviroment": {}, "args": "x"}
    response = api.admin.post("/api/upstreams", json=body)
    assert response.status_code == 422
    error = api.error_of(response)
    assert error["code"] == "invalid_body"
    assert error["message"] == "invalid request body (3 problems)"
    assert [p["pointer"] for p in error["problems"]] == ["/args", "/enviroment", "/name"]
    assert api.viewer.get("/api/upstreams").json() == {"upstreams": []}


def test_a_json_endpoint_refuses_other_media_types(api: Api) -> None:
    for media_type in ("application/yaml", "text/plain", "multipart/form-data; boundary=x"):
        response = api.admin.post(
            "/api/upstreams", content=b"{}", headers={"Content-Type": media_type}
        )
        assert response.status_code == 415, media_type
        assert api.error_of(response)["code"] == "unsupported_media_type"
    charset = {"Content-Type": "Application/JSON; charset=utf-8"}
    body = b'{"name": "a", "command": "x"}'
    assert api.admin.post("/api/upstreams", content=body, headers=charset).status_code == 201


def test_a_method_a_path_does_not_have_is_405_with_allow(api: Api) -> None:
    response = api.admin.request("PATCH", "/api/upstreams")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"
    error = api.error_of(response)
    assert error["code"] == "method_not_allowed"
    assert error["message"] == (
        "PATCH /api/upstreams: method not allowed (this path allows GET, HEAD, POST)"
    )


def test_head_answers_like_get_without_a_body(api: Api) -> None:
    response = api.viewer.request("HEAD", "/api/upstreams")
    assert response.status_code == 200
    assert response.content == b""
    assert api.anonymous.request("HEAD", "/api/upstreams").status_code == 401


def test_an_unknown_path_is_404_pointing_at_the_document(api: Api) -> None:
    response = api.viewer.get("/api/upstream")
    assert response.status_code == 404
    assert api.error_of(response) == {
        "code": "not_found",
        "message": "no endpoint for GET /api/upstream (the API is described at /api/openapi.json)",
    }


def test_query_parameters_an_operation_does_not_take_are_refused(api: Api) -> None:
    response = api.viewer.get("/api/upstreams?verbose=1")
    assert response.status_code == 422
    assert api.error_of(response) == {
        "code": "invalid_query",
        "message": 'unknown query parameter "verbose" (expected: none)',
    }


def test_a_lone_surrogate_in_a_json_body_is_malformed(api: Api) -> None:
    body = b'{"name": "\\ud800", "command": "x"}'
    response = api.admin.post("/api/upstreams", content=body)
    assert response.status_code == 400
    assert "surrogate" in api.error_of(response)["message"]


def test_a_lone_surrogate_in_a_policy_is_written_back_escaped(api: Api) -> None:
    text = '{"version": "1", "default": "allow", "hide": ["\\ud800"]}'
    response = api.manager.put("/api/policies/odd", content=text)
    assert response.status_code == 422
    assert b'tool name \\"\\ud800\\" contains control characters' in response.content
    assert api.error_of(response)["problems"][0]["message"] == (
        'tool name "\ud800" contains control characters'
    )

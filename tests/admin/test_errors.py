"""Errors become HTTP answers in one place; an unavailable store is 503 and leaks nothing."""

from __future__ import annotations

import logging

import pytest

from mcpwall.admin.errors import ApiError, api_error
from mcpwall.core.errors import (
    Conflict,
    InvalidDuration,
    InvalidName,
    NotFound,
    PolicyError,
    Problem,
    StoreUnavailable,
)
from mcpwall.core.registry import Role
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore
from tests.admin.conftest import make_api

DOWN = StoreUnavailable("postgresql://mcpwall:***@db.internal/mcpwall", "connection refused")


class FlakyStore(MemoryStore):
    """A store whose database goes away when told to, at lookup or at a change."""

    down_at: str | None = None

    def find_admin_token_by_token_hash(self, token_hash: str):  # type: ignore[no-untyped-def]
        if self.down_at == "lookup":
            raise DOWN
        return super().find_admin_token_by_token_hash(token_hash)

    def list_upstreams(self):  # type: ignore[no-untyped-def]
        if self.down_at == "read":
            raise DOWN
        return super().list_upstreams()


@pytest.mark.parametrize("down_at", ["lookup", "read"])
def test_an_unavailable_store_is_503_without_its_address(
    down_at: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(FakeClock())
    api = make_api(store, FakeClock())
    store.down_at = down_at
    with caplog.at_level(logging.ERROR, logger="mcpwall.admin"):
        response = api.viewer.get("/api/upstreams")
    assert response.status_code == 503
    assert api.error_of(response) == {
        "code": "store_unavailable",
        "message": "the database is unavailable; try again",
    }
    assert "db.internal" not in response.text
    assert "db.internal" in caplog.text  # the operator's log says where and why


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (PolicyError([Problem("/default", "x"), Problem("/mode", "y")]), 422, "invalid_policy"),
        (InvalidName("name", "A", "lowercase"), 422, "invalid_value"),
        (InvalidDuration("duration", "3x", "30d"), 422, "invalid_value"),
        (NotFound("grant", "x"), 404, "not_found"),
        (Conflict("in the way"), 409, "conflict"),
        (DOWN, 503, "store_unavailable"),
        (ApiError(418, "teapot", "short and stout"), 418, "teapot"),
    ],
)
def test_each_error_has_one_status_and_code(error: Exception, status: int, code: str) -> None:
    mapped = api_error(error)
    assert (mapped.status, mapped.code) == (status, code)


def test_problems_are_kept_with_their_pointers() -> None:
    mapped = api_error(PolicyError([Problem("/default", "bad"), Problem("/mode", "worse")]))
    assert mapped.message == "invalid policy (2 problems)"
    assert [(p.pointer, p.message) for p in mapped.problems] == [
        ("/default", "bad"),
        ("/mode", "worse"),
    ]
    single = api_error(PolicyError([Problem("/default", "bad")]))
    assert single.message == "invalid policy (1 problem): /default: bad"


def test_anything_else_is_a_500_that_says_nothing() -> None:
    mapped = api_error(KeyError("internal detail"))
    assert (mapped.status, mapped.code) == (500, "internal_error")
    assert "internal detail" not in mapped.message


def test_a_bug_in_an_operation_is_a_json_500(monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(MemoryStore(FakeClock()), FakeClock(), raise_server_exceptions=False)

    def broken() -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(api.control.store, "list_grants", broken)
    response = api.as_role(Role.VIEWER).get("/api/grants")
    assert response.status_code == 500
    assert api.error_of(response)["code"] == "internal_error"
    assert "bug" not in response.text

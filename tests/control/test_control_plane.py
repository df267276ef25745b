"""ControlPlane operations over the in-memory store, with a fake clock and fixed entropy."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwall.control import ControlPlane
from mcpwall.control.views import masked_url, upstream_view
from mcpwall.core.errors import PolicyError
from mcpwall.core.registry import Role, Upstream
from mcpwall.core.tokens import hash_token
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore

SEED = (Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json").read_text()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def plane(clock: FakeClock) -> ControlPlane:
    counter = iter(range(1, 1000))
    plane = ControlPlane(MemoryStore(clock), clock, entropy=lambda n: bytes([next(counter)]) * n)
    plane.store.add_upstream(
        Upstream.stdio("k8s", "npx", ("-y", "mcp-server-kubernetes")), actor="t"
    )
    plane.set_policy("seed", SEED, actor="t")
    return plane


def test_an_issued_token_authenticates_until_revoked(plane: ControlPlane) -> None:
    issued = plane.issue_grant("alice", {"k8s": "seed"}, actor="t")
    assert issued.grant.token_hash == hash_token(issued.token)
    assert plane.authenticate_grant(issued.token) == issued.grant
    plane.store.revoke_grant("alice", actor="t")
    assert plane.authenticate_grant(issued.token) is None


def test_a_grant_expires_at_its_time(plane: ControlPlane, clock: FakeClock) -> None:
    issued = plane.issue_grant("alice", {"k8s": "seed"}, expires_in=3600, actor="t")
    clock.advance(3599)
    assert plane.authenticate_grant(issued.token) is not None
    clock.advance(1)
    assert plane.authenticate_grant(issued.token) is None


def test_rotation_retires_the_old_token(plane: ControlPlane) -> None:
    first = plane.issue_grant("alice", {"k8s": "seed"}, actor="t")
    second = plane.rotate_grant("alice", actor="t")
    assert second.token != first.token
    assert plane.authenticate_grant(first.token) is None
    assert plane.authenticate_grant(second.token) is not None


@pytest.mark.parametrize(
    "token", ["", "Bearer x", "mcpw_short", "mcpwa_" + "A" * 43, "mcpw_" + "A" * 43, "x" * 10_000]
)
def test_anything_else_authenticates_nothing(plane: ControlPlane, token: str) -> None:
    plane.issue_grant("alice", {"k8s": "seed"}, actor="t")
    assert plane.authenticate_grant(token) is None
    assert plane.authenticate_admin(token) is None


def test_admin_tokens_authenticate_with_their_role(plane: ControlPlane) -> None:
    issued = plane.create_admin_token(Role.VIEWER, label="ops", actor="t")
    found = plane.authenticate_admin(issued.token)
    assert found is not None
    assert found.role is Role.VIEWER
    assert plane.authenticate_grant(issued.token) is None  # an admin token is not a grant


def test_an_invalid_policy_is_not_stored(plane: ControlPlane) -> None:
    with pytest.raises(PolicyError) as caught:
        plane.set_policy(
            "seed",
            '{"version": "1", "default": "allow", "tools": {"x": {"deney_if": []}}}',
            actor="t",
        )
    assert str(caught.value.problems[0]).startswith('/tools/x/deney_if: unknown key "deney_if"')
    assert plane.store.get_policy("seed").version == 1


def test_set_policy_returns_lint_warnings_and_compiles_stored_versions(plane: ControlPlane) -> None:
    result = plane.set_policy(
        "seed", b'{"version": "1", "default": "allow", "hide": ["x", "x"]}', actor="t"
    )
    assert result.version.version == 2
    assert [str(w) for w in result.warnings] == ['/hide/1: "x" is already hidden']
    assert plane.compiled_policy("seed", 1).tools.keys() >= {"delete_pod"}
    assert plane.compiled_policy("seed").version == 2


def test_policy_bytes_that_are_not_utf8_are_a_policy_error(plane: ControlPlane) -> None:
    with pytest.raises(PolicyError, match="not UTF-8"):
        plane.set_policy("seed", b"\xff\xfe{}", actor="t")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://mcp.example/mcp", "https://mcp.example/mcp"),
        ("https://bot:hunter2@mcp.example/mcp", "https://bot:***@mcp.example/mcp"),
        (
            "https://mcp.example/mcp?api_key=abc123&debug",
            "https://mcp.example/mcp?api_key=***&debug",
        ),
    ],
)
def test_listed_urls_never_show_passwords_or_query_values(url: str, shown: str) -> None:
    assert upstream_view(Upstream.remote("x", url))["url"] == shown


def test_a_url_that_cannot_be_parsed_is_not_shown() -> None:
    assert masked_url("http://[::1/mcp") == "(a URL that can't be parsed; not shown)"

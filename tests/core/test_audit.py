"""What an audit event says about a change: never a secret."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mcpwall.core.audit import (
    Action,
    AuditEvent,
    Change,
    admin_token_change,
    check_page_size,
    grant_change,
    policy_change,
    upstream_change,
)
from mcpwall.core.errors import InvalidValue
from mcpwall.core.registry import AdminToken, Grant, PolicyVersion, Role, Upstream

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_upstream_is_described_by_its_kind_and_keys_only() -> None:
    upstream = Upstream.stdio(
        "k8s", "npx", ("--token=s3cret",), env={"TOKEN": "s3cret", "A": "s3cret"}
    )
    change = upstream_change(Action.UPSTREAM_ADD, upstream)
    assert change == Change(
        "upstream.add",
        "upstream",
        "k8s",
        {"kind": "stdio", "env_keys": ["A", "TOKEN"], "header_keys": [], "pinning": "enforce"},
    )
    remote = Upstream.remote("gh", "https://user:s3cret@h/?key=s3cret", {"X-Key": "s3cret"})
    assert "s3cret" not in repr(upstream_change(Action.UPSTREAM_UPDATE, remote))


def test_a_policy_change_names_the_version() -> None:
    version = PolicyVersion("seed", 3, "{}", NOW, "ops")
    assert policy_change(version) == Change("policy.set", "policy", "seed", {"version": 3})


def test_a_grant_change_names_label_bindings_and_expiry_never_the_hash() -> None:
    grant = Grant("grt_1", "alice", "f" * 64, {"k8s": "seed"}, NOW, expires_at=NOW)
    change = grant_change(Action.GRANT_ISSUE, grant)
    assert change.details == {
        "label": "alice",
        "bindings": {"k8s": "seed"},
        "expires_at": "2026-01-01T00:00:00+00:00",
    }
    assert "f" * 64 not in repr(change)


def test_an_admin_token_change_names_label_and_role() -> None:
    token = AdminToken("adm_1", "ops", Role.ADMIN, "f" * 64, NOW, "bootstrap")
    change = admin_token_change(Action.ADMIN_TOKEN_CREATE, token)
    assert change == Change(
        "admin_token.create", "admin_token", "adm_1", {"label": "ops", "role": "admin"}
    )


def test_event_details_are_read_only() -> None:
    details = {"n": 1}
    event = AuditEvent(1, NOW, "ops", "x", "grant", "grt_1", details)
    details["n"] = 2
    assert event.details == {"n": 1}
    with pytest.raises(TypeError):
        event.details["n"] = 3  # type: ignore[index]


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_a_page_is_1_to_1000_events(limit: int) -> None:
    assert check_page_size(1000) == 1000
    with pytest.raises(InvalidValue, match=f'^page size "{limit}": expected 1 to 1000$'):
        check_page_size(limit)

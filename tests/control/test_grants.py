"""``mcpwall.control.grants``: each grant's limits as the gateway draws on them, usage read
from the counter store, and revocations shared by the CLI, the API and the dashboard."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from mcpwall.control import ControlPlane, compile_text
from mcpwall.control.grants import (
    binding_choices,
    grant_overviews,
    policy_limits,
    read_usage,
    revoke_admin_token,
    revoke_grant,
)
from mcpwall.core.registry import Role, Status, Upstream
from mcpwall.core.windows import Budget, CounterKey
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import MemoryCounters
from mcpwall.ports.memory_store import MemoryStore

pytestmark = pytest.mark.anyio


def limit(counter: str, scope: str = "grant", window: str = "hour") -> dict[str, object]:
    return {"counter": counter, "max": 5, "window": window, "scope": scope}


POLICY = {
    "version": "1",
    "default": "allow",
    "hide": ["get_secret"],
    "all_tools": {"limits": [limit("all"), limit("everyone", "global", "day")]},
    "tools": {
        "delete_pod": {"limits": [limit("deletes")]},
        "get_secret": {"limits": [limit("secrets")]},
        "list_pods": {},
        "scale": {"limits": [limit("changes", "upstream", "minute")]},
    },
}


@pytest.fixture
def plane() -> ControlPlane:
    clock = FakeClock()
    plane = ControlPlane(MemoryStore(clock), clock)
    for name in ("k8s", "github"):
        plane.store.add_upstream(Upstream.stdio(name, "x"), actor="t")
    plane.set_policy("p", json.dumps(POLICY), actor="t")
    plane.set_policy("open", '{"version": "1", "default": "allow"}', actor="t")
    return plane


def test_a_policys_limits_are_all_tools_then_each_visible_tools_own() -> None:
    found = policy_limits(compile_text(json.dumps(POLICY), name="p"))
    assert [(tool, item.counter, item.pointer) for tool, item in found] == [
        (None, "all", "/all_tools/limits/0"),
        (None, "everyone", "/all_tools/limits/1"),
        ("delete_pod", "deletes", "/tools/delete_pod/limits/0"),
        ("scale", "changes", "/tools/scale/limits/0"),
    ]  # get_secret is hidden: its limit never applies


def test_hiding_every_tool_leaves_no_limit_that_applies() -> None:
    policy = {**POLICY, "hide": ["*"]}
    assert policy_limits(compile_text(json.dumps(policy), name="p")) == ()


def test_each_binding_draws_on_budgets_named_as_the_gateway_names_them(
    plane: ControlPlane,
) -> None:
    grant = plane.issue_grant("alice", {"k8s": "p", "github": "open"}, actor="t").grant
    [overview] = grant_overviews(plane)
    github, k8s = overview.bindings
    assert (github.upstream, github.policy, github.version, github.limits) == (
        "github", "open", 1, (),
    )  # fmt: skip
    assert [used.budget.log for used in k8s.limits] == [
        f"3600:grant:{grant.id}:all",
        "86400:global::everyone",
        f"3600:grant:{grant.id}:deletes",
        "60:upstream:k8s:changes",
    ]
    assert overview.budgets == tuple(used.budget for used in k8s.limits)


def test_grants_are_listed_active_first_and_filtered_by_status(plane: ControlPlane) -> None:
    revoked = plane.issue_grant("a", {"k8s": "p"}, actor="t").grant
    revoke_grant(plane, revoked.id, actor="t")
    plane.issue_grant("b", {"k8s": "p"}, expires_in=10, actor="t")
    plane.issue_grant("c", {"k8s": "p"}, actor="t")
    assert isinstance(plane.clock, FakeClock)
    plane.clock.advance(10)
    assert [o.grant.label for o in grant_overviews(plane)] == ["c", "b", "a"]
    assert [o.status for o in grant_overviews(plane)] == [
        Status.ACTIVE, Status.EXPIRED, Status.REVOKED,
    ]  # fmt: skip
    assert [o.grant.label for o in grant_overviews(plane, status=Status.EXPIRED)] == ["b"]


def test_a_missing_policy_is_said_not_raised(plane: ControlPlane) -> None:
    # Only a store written around the control plane can hold such a binding; say so anyway.
    store = plane.store
    assert isinstance(store, MemoryStore)
    grant = plane.issue_grant("a", {"k8s": "p"}, actor="t").grant
    store._policies.pop("p")
    [bound] = grant_overviews(plane)[0].bindings
    assert (bound.version, bound.limits, bound.problem) == (None, (), 'policy "p" is not stored')
    assert grant.id == grant_overviews(plane)[0].grant.id


async def test_usage_is_read_once_per_log() -> None:
    asked: list[list[Budget]] = []

    class Counting(MemoryCounters):
        async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
            asked.append(list(requests))
            return await super().usage(requests, now)

    counters = Counting()
    shared = Budget(CounterKey("changes", "upstream", "k8s"), 5, 60.0)
    own = Budget(CounterKey("deletes", "grant", "grt_a"), 5, 3600.0)
    await counters.reserve([shared, own], 100.0)
    await counters.reserve([shared], 101.0)
    assert await read_usage(counters, [shared, own, shared], 102.0) == {
        shared.log: 2,
        own.log: 1,
    }
    assert asked == [[shared, own]]


def test_the_names_a_new_grant_may_bind(plane: ControlPlane) -> None:
    assert binding_choices(plane) == (["github", "k8s"], ["open", "p"])


def test_revoking_an_admin_token_is_recorded_with_who(plane: ControlPlane) -> None:
    created = plane.create_admin_token(Role.VIEWER, label="v", actor="t").admin_token
    revoked = revoke_admin_token(plane, created.id, actor="admin:adm_x (root)")
    assert revoked.revoked_at is not None
    [event] = plane.audit_page(limit=1)
    assert (event.action, event.actor) == ("admin_token.revoke", "admin:adm_x (root)")

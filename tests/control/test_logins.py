"""Dashboard logins through the control plane: exchange, timeouts, logout, revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mcpwall.control import ControlPlane
from mcpwall.core.errors import InvalidValue
from mcpwall.core.logins import LoginTimeouts, csrf_matches, csrf_token, secret_hash
from mcpwall.core.registry import Role
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore

TIMEOUTS = LoginTimeouts(idle=timedelta(minutes=30), absolute=timedelta(hours=2))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def plane(clock: FakeClock) -> ControlPlane:
    return ControlPlane(MemoryStore(clock), clock, login_timeouts=TIMEOUTS)


def admin_token(plane: ControlPlane, role: Role = Role.VIEWER) -> str:
    return plane.create_admin_token(role, label="alice", actor="cli:root").token


def test_an_admin_token_opens_a_session_the_store_knows_only_by_hash(
    plane: ControlPlane,
) -> None:
    opened = plane.log_in(admin_token(plane))
    assert opened is not None
    assert opened.session.secret_hash == secret_hash(opened.secret) != opened.secret
    found = plane.logged_in(opened.secret)
    assert found is not None
    assert (found.admin_token.label, found.admin_token.role) == ("alice", Role.VIEWER)
    event = plane.store.list_audit(limit=1)[0]
    assert (event.action, event.actor) == (
        "dashboard.login",
        f"admin:{found.admin_token.id} (alice)",
    )


@pytest.mark.parametrize("token", ["", "nonsense", "mcpwg_" + "A" * 43])
def test_anything_but_a_live_admin_token_opens_nothing(plane: ControlPlane, token: str) -> None:
    assert plane.log_in(token) is None


def test_each_login_gets_a_new_secret(plane: ControlPlane) -> None:
    token = admin_token(plane)
    first, second = plane.log_in(token), plane.log_in(token)
    assert first is not None
    assert second is not None
    assert first.secret != second.secret
    assert plane.logged_in(first.secret) is not None
    assert plane.logged_in(second.secret) is not None


def test_a_session_ends_after_its_idle_timeout(plane: ControlPlane, clock: FakeClock) -> None:
    opened = plane.log_in(admin_token(plane))
    assert opened is not None
    clock.advance(29 * 60)
    assert plane.logged_in(opened.secret) is not None  # a request keeps it alive
    clock.advance(29 * 60)
    assert plane.logged_in(opened.secret) is not None
    clock.advance(30 * 60)
    assert plane.logged_in(opened.secret) is None


def test_a_busy_session_still_ends_at_its_absolute_timeout(
    plane: ControlPlane, clock: FakeClock
) -> None:
    opened = plane.log_in(admin_token(plane))
    assert opened is not None
    for _ in range(7):
        clock.advance(15 * 60)
        assert plane.logged_in(opened.secret) is not None
    clock.advance(15 * 60)  # two hours after login
    assert plane.logged_in(opened.secret) is None


def test_logout_ends_the_session_for_every_replica(plane: ControlPlane) -> None:
    opened = plane.log_in(admin_token(plane))
    assert opened is not None
    replica = ControlPlane(plane.store, plane.clock, login_timeouts=TIMEOUTS)
    assert replica.logged_in(opened.secret) is not None
    assert plane.log_out(opened.secret) is True
    assert replica.logged_in(opened.secret) is None
    assert plane.log_out(opened.secret) is False
    assert plane.store.list_audit(limit=1)[0].action == "dashboard.logout"


def test_revoking_or_expiring_the_admin_token_ends_its_sessions(
    plane: ControlPlane, clock: FakeClock
) -> None:
    opened = plane.log_in(admin_token(plane))
    assert opened is not None
    plane.store.revoke_admin_token(opened.admin_token.id, actor="cli:root")
    assert plane.logged_in(opened.secret) is None
    short = plane.create_admin_token(Role.ADMIN, expires_in=60, actor="cli:root").token
    later = plane.log_in(short)
    assert later is not None
    clock.advance(60)
    assert plane.logged_in(later.secret) is None


def test_the_csrf_token_belongs_to_one_session(plane: ControlPlane) -> None:
    token = admin_token(plane)
    first, second = plane.log_in(token), plane.log_in(token)
    assert first is not None
    assert second is not None
    assert csrf_matches(first.secret, csrf_token(first.secret))
    assert not csrf_matches(first.secret, csrf_token(second.secret))
    assert not csrf_matches(first.secret, "")
    assert first.secret not in csrf_token(first.secret)


def test_timeouts_must_make_sense() -> None:
    with pytest.raises(InvalidValue, match="idle timeout"):
        LoginTimeouts(idle=timedelta(hours=3), absolute=timedelta(hours=2))
    with pytest.raises(InvalidValue, match="a positive duration"):
        LoginTimeouts(idle=timedelta(0))

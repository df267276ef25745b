"""The admin tokens page: admins only, to look at and to change; a new token shown once;
revoking one ends the dashboard sessions opened with it, in every browser."""

from __future__ import annotations

import html
import re

import pytest

from mcpwall.core.audit import AuditEvent
from mcpwall.core.registry import AdminToken, Role
from tests.dashboard.conftest import ORIGIN, Dashboard

LOWER_ROLES = [Role.VIEWER, Role.POLICY_MANAGER]
FOREIGN = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


def audit(dashboard: Dashboard) -> list[AuditEvent]:
    return dashboard.control.audit_page(limit=1000)


def tokens(dashboard: Dashboard) -> list[AdminToken]:
    return dashboard.control.store.list_admin_tokens()


def snapshot(dashboard: Dashboard) -> tuple[list[AdminToken], list[AuditEvent]]:
    return tokens(dashboard), audit(dashboard)


def by_label(dashboard: Dashboard, label: str) -> AdminToken:
    [found] = [t for t in tokens(dashboard) if t.label == label]
    return found


def token_shown(page: str) -> str:
    [token] = re.findall(r'<code id="token">([^<]+)</code>', page)
    return str(token)


def test_an_admin_sees_every_token_without_its_secret(dashboard: Dashboard) -> None:
    dashboard.clock.advance(300)
    browser = dashboard.logged_in(Role.ADMIN)
    answer = browser.get("/admin-tokens")
    assert answer.status_code == 200
    page = answer.text
    for role in Role:
        token = by_label(dashboard, role.value.replace("_", "-"))
        assert token.id in page
        assert f"<td>{role.value}</td>" in page
        assert dashboard.tokens[role] not in page
        assert token.token_hash not in page
    assert page.count("<td>cli:root</td>") == 3  # created by
    assert 'admin <span class="muted">(you)</span>' in page
    assert "0 s ago" in page  # the admin's last use: logging in just now
    assert "<caption" in page
    assert 'href="/admin-tokens/new"' in page


@pytest.mark.parametrize("role", LOWER_ROLES)
def test_lower_roles_may_not_see_or_change_admin_tokens(dashboard: Dashboard, role: Role) -> None:
    browser = dashboard.logged_in(role)
    target = by_label(dashboard, "admin")
    for path in ("/admin-tokens", "/admin-tokens/new", f"/admin-tokens/{target.id}/revoke"):
        answer = browser.get(path)
        assert answer.status_code == 403, path
        assert "this needs role admin" in answer.text
    before = snapshot(dashboard)
    for path, fields in (
        ("/admin-tokens/new", {"role": "admin", "label": "mine-now"}),
        (f"/admin-tokens/{target.id}/revoke", {}),
    ):
        answer = browser.post(path, fields)
        assert answer.status_code == 403, path
        assert 'id="token"' not in answer.text
    assert snapshot(dashboard) == before
    assert dashboard.control.authenticate_admin(dashboard.tokens[Role.ADMIN]) is not None


def test_creating_a_token_shows_it_once_and_it_logs_in(dashboard: Dashboard) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    answer = admin.post(
        "/admin-tokens/new", {"role": "policy_manager", "label": "carol", "expires": "12h"}
    )
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    token = token_shown(answer.text)
    assert answer.text.count(token) == 1
    assert '<button type="button" data-copy="#token">' in answer.text
    assert "it is not shown again" in answer.text
    created = by_label(dashboard, "carol")
    assert created.role is Role.POLICY_MANAGER
    assert created.expires_at is not None
    assert (created.expires_at - dashboard.clock.now()).total_seconds() == 12 * 3600
    assert created.created_by == dashboard.actor(Role.ADMIN)
    [event] = [e for e in audit(dashboard) if e.object_id == created.id]
    assert (event.action, event.actor) == ("admin_token.create", dashboard.actor(Role.ADMIN))
    for path in ("/admin-tokens", "/audit", f"/admin-tokens/{created.id}/revoke", "/grants"):
        assert token not in admin.get(path).text, path
    assert all(token not in repr(e) for e in audit(dashboard))
    dashboard.tokens[Role.POLICY_MANAGER] = token  # log in with it
    assert dashboard.logged_in(Role.POLICY_MANAGER).get("/grants").status_code == 200


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"role": "root"}, {"role-error": 'role "root": expected one of viewer'}),
        ({"role": "viewer", "label": "Bad Label"}, {"label-error": 'label "Bad Label"'}),
        (
            {"role": "", "label": "ok", "expires": "forever"},
            {"role-error": 'role "": expected', "expires-error": 'expiry "forever": expected'},
        ),
    ],
)
def test_bad_input_is_shown_at_its_field_and_nothing_is_created(
    dashboard: Dashboard, fields: dict[str, str], errors: dict[str, str]
) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    before = snapshot(dashboard)
    answer = admin.post("/admin-tokens/new", fields)
    assert answer.status_code == 422
    for at, message in errors.items():
        [found] = re.findall(f'<p class="error" id="{at}">([^<]*)</p>', answer.text)
        assert message in html.unescape(found)
        assert 'aria-invalid="true"' in answer.text
    assert 'id="token"' not in answer.text
    assert snapshot(dashboard) == before


def test_revoking_a_token_logs_its_browsers_out(dashboard: Dashboard) -> None:
    """One admin revokes, from their browser, the token another browser logged in with."""
    first_admin = dashboard.logged_in(Role.ADMIN)
    made = first_admin.post("/admin-tokens/new", {"role": "admin", "label": "dave"})
    dashboard.tokens[Role.ADMIN], mine = token_shown(made.text), dashboard.tokens[Role.ADMIN]
    daves_browser = dashboard.logged_in(Role.ADMIN)  # logged in with dave's new token
    dashboard.tokens[Role.ADMIN] = mine
    assert daves_browser.get("/grants").status_code == 200
    dave = by_label(dashboard, "dave")

    confirm = first_admin.get(f"/admin-tokens/{dave.id}/revoke")
    assert "every dashboard" in confirm.text
    assert "you will be logged out" not in confirm.text
    answer = first_admin.post(f"/admin-tokens/{dave.id}/revoke")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin-tokens?revoked={dave.id}"
    assert "Revoked admin token dave" in first_admin.get(answer.headers["location"]).text

    gone = daves_browser.get("/grants")
    assert (gone.status_code, gone.headers["location"]) == (303, "/login?next=%2Fgrants")
    partial = daves_browser.htmx("/grants", headers={"HX-Current-URL": f"{ORIGIN}/grants"})
    assert (partial.status_code, partial.headers["hx-redirect"]) == (401, "/login?next=%2Fgrants")
    assert dashboard.control.authenticate_admin(token_shown(made.text)) is None
    [event] = [e for e in audit(dashboard) if e.action == "admin_token.revoke"]
    assert (event.object_id, event.actor) == (dave.id, dashboard.actor(Role.ADMIN))


def test_revoking_ones_own_token_warns_and_ends_ones_session(dashboard: Dashboard) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    mine = by_label(dashboard, "admin")
    confirm = admin.get(f"/admin-tokens/{mine.id}/revoke")
    assert "This is the token you are logged in with" in confirm.text
    answer = admin.post(f"/admin-tokens/{mine.id}/revoke")
    assert answer.status_code == 303
    after = admin.get(answer.headers["location"])
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login?next=")


def test_a_revoked_token_offers_nothing_more(dashboard: Dashboard) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    viewer = by_label(dashboard, "viewer")
    dashboard.control.store.revoke_admin_token(viewer.id, actor="cli:root")
    page = admin.get(f"/admin-tokens/{viewer.id}/revoke").text
    assert "There is nothing to revoke" in page
    assert '<form method="post" action="/admin-tokens/' not in page
    assert f"/admin-tokens/{viewer.id}/revoke" not in admin.get("/admin-tokens").text


def test_an_unknown_token_is_not_found(dashboard: Dashboard) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    before = snapshot(dashboard)
    assert admin.get("/admin-tokens/adm_nope/revoke").status_code == 404
    answer = admin.post("/admin-tokens/adm_nope/revoke")
    assert answer.status_code == 404
    assert 'admin token "adm_nope" not found' in html.unescape(answer.text)
    assert snapshot(dashboard) == before


@pytest.mark.parametrize("how", ["no csrf token", "foreign origin"])
def test_a_forged_change_is_refused_and_nothing_changes(dashboard: Dashboard, how: str) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    viewer = by_label(dashboard, "viewer")
    before = snapshot(dashboard)
    for path, fields in (
        ("/admin-tokens/new", {"role": "admin", "label": "mallory"}),
        (f"/admin-tokens/{viewer.id}/revoke", {}),
    ):
        if how == "no csrf token":
            answer = admin.post(path, fields, csrf=False)
        else:
            answer = admin.post(path, fields, headers=FOREIGN)
        assert answer.status_code == 403, path
        assert "refused: " in answer.text
    assert snapshot(dashboard) == before

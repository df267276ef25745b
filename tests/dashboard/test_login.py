"""Logging in and out: the cookie, the session in the store, CSRF on the way in and out."""

from __future__ import annotations

import pytest

from mcpwall.core.logins import secret_hash
from mcpwall.core.registry import Role
from tests.dashboard.conftest import ORIGIN, Dashboard


def test_a_page_sends_a_stranger_to_the_login_form_and_back(dashboard: Dashboard) -> None:
    browser = dashboard.browser()
    answer = browser.get("/audit?before=5")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Faudit%3Fbefore%3D5"
    form = browser.get(answer.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/audit?before=5"' in form.text
    logged_in = browser.post(
        "/login", {"token": dashboard.tokens[Role.VIEWER], "next": "/audit?before=5"}
    )
    assert (logged_in.status_code, logged_in.headers["location"]) == (303, "/audit?before=5")


def test_an_htmx_request_without_a_session_is_told_where_to_log_in(dashboard: Dashboard) -> None:
    answer = dashboard.browser().htmx("/audit", headers={"HX-Current-URL": f"{ORIGIN}/audit"})
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"] == "/login?next=%2Faudit"


def test_the_session_cookie_is_httponly_strict_and_carries_only_the_secret(
    dashboard: Dashboard,
) -> None:
    browser = dashboard.browser()
    answer = browser.post("/login", {"token": dashboard.tokens[Role.ADMIN]})
    cookie = answer.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    secret = rest.partition(";")[0]
    assert name == "mcpwall_session"  # plain HTTP: no __Host- prefix, no Secure
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    assert f"Max-Age={12 * 3600}" in cookie
    assert dashboard.tokens[Role.ADMIN] not in cookie
    assert dashboard.control.store.find_login_session(secret_hash(secret)) is not None


def test_over_https_the_cookie_takes_the_host_prefix_and_is_secure(dashboard: Dashboard) -> None:
    from starlette.testclient import TestClient

    client = TestClient(dashboard.app, base_url="https://dash.example")
    answer = client.post(
        "/login",
        data={"token": dashboard.tokens[Role.VIEWER]},
        headers={"Origin": "https://dash.example", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-mcpwall_session=")
    assert "Secure" in cookie
    assert "Domain" not in cookie
    assert client.get("/audit", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("token", ["", "not-a-token", "mcpwa_" + "A" * 43])
def test_a_bad_token_is_refused_without_a_cookie(dashboard: Dashboard, token: str) -> None:
    answer = dashboard.browser().post("/login", {"token": token})
    assert answer.status_code == 401
    assert "not valid" in answer.text
    assert "set-cookie" not in answer.headers
    if token:
        assert token not in answer.text  # never echoed back


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": ORIGIN},
        {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-origin"},
    ],
)
def test_a_login_from_another_site_is_refused(
    dashboard: Dashboard, headers: dict[str, str]
) -> None:
    answer = dashboard.browser().post(
        "/login", {"token": dashboard.tokens[Role.ADMIN]}, headers=headers
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", "x"])
def test_after_login_only_local_paths_are_followed(dashboard: Dashboard, target: str) -> None:
    answer = dashboard.browser().post(
        "/login", {"token": dashboard.tokens[Role.VIEWER], "next": target}
    )
    assert answer.headers["location"] == "/"


def test_a_login_is_a_new_session_each_time(dashboard: Dashboard) -> None:
    first, second = dashboard.logged_in(Role.VIEWER), dashboard.logged_in(Role.VIEWER)
    assert first.secret != second.secret


def test_logout_ends_the_session_in_the_store(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.VIEWER)
    secret = browser.secret
    assert secret is not None
    answer = browser.post("/logout")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert 'mcpwall_session=""' in answer.headers["set-cookie"]
    assert dashboard.control.store.find_login_session(secret_hash(secret)) is None
    # The old cookie, replayed, opens nothing.
    replay = dashboard.browser()
    replay.client.cookies.set("mcpwall_session", secret)
    assert replay.get("/audit").status_code == 303


def test_logout_needs_the_csrf_token(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.VIEWER)
    assert browser.post("/logout", csrf=False).status_code == 403
    assert browser.post("/logout", {"csrf_token": "0" * 64}).status_code == 403
    assert browser.post("/logout", headers={}).status_code == 403
    assert browser.get("/audit").status_code == 200  # still logged in


def test_revoking_the_admin_token_ends_its_dashboard_sessions(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.VIEWER)
    [viewer] = [t for t in dashboard.control.store.list_admin_tokens() if t.role is Role.VIEWER]
    dashboard.control.store.revoke_admin_token(viewer.id, actor="cli:root")
    assert browser.get("/audit").status_code == 303


def test_an_idle_session_ends(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.VIEWER)
    dashboard.clock.advance(29 * 60)
    assert browser.get("/audit").status_code == 200
    dashboard.clock.advance(30 * 60)
    assert browser.get("/audit").status_code == 303


def test_login_and_logout_land_in_the_audit_trail(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    browser.post("/logout")
    events = dashboard.control.audit_page(limit=2)
    actor = dashboard.actor(Role.POLICY_MANAGER)
    assert [(e.action, e.actor) for e in events] == [
        ("dashboard.logout", actor),
        ("dashboard.login", actor),
    ]


def test_a_logged_in_visitor_skips_the_login_form(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.VIEWER)
    answer = browser.get("/login?next=/audit")
    assert (answer.status_code, answer.headers["location"]) == (303, "/audit")

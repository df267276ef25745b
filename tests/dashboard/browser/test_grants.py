"""The grants and admin tokens pages in a real browser, against a real ``mcpwall serve``:
an agent's calls show as usage, a grant issued on the page works at once and its token is
copied with the page's button, and revoking it on the page (no script needed) refuses the
agent's next call. axe finds no serious or critical issue on any of these pages."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.browser.conftest import PageLog, check_accessibility, screenshot
from tests.dashboard.browser.gateway import Served, log_in, no_problems
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = pytest.mark.e2e


def status_of_a_call(served: Served, token: str) -> int:
    """The HTTP status the gateway answers a ``tools/call`` with this token."""
    answer = httpx.post(
        served.gateway.url("k8s"),
        json=modern_body("tools/call", {"name": "list_pods", "arguments": {"namespace": "dev"}}),
        headers=modern_headers(token, "tools/call", "list_pods"),
        timeout=30.0,
    )
    return answer.status_code


def test_usage_issue_copy_and_revoke(page: Page, page_log: PageLog, served: Served) -> None:
    served.call("delete_pod", {"namespace": "staging", "name": "checkout-1"})
    log_in(page, served.admin, "/grants")
    seed_grant = page.locator("tr", has_text="crashloop-agent")
    expect(seed_grant).to_contain_text("1 / 5 per hour (grant)")
    expect(seed_grant.locator("meter")).to_have_attribute("value", "1")
    screenshot(page, "grants")
    check_accessibility(page)

    page.get_by_role("link", name="Issue a grant").click()
    page.get_by_label("Label").fill("browser-agent")
    page.get_by_label("k8s").select_option("seed")
    page.get_by_label("Expires after (optional)").fill("30d")
    check_accessibility(page)
    page.get_by_role("button", name="Issue the grant").click()
    token = page.locator("#token").inner_text()
    assert token.startswith("mcpw_")
    expect(page.get_by_text("it is not shown again")).to_be_visible()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy the token").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token
    screenshot(page, "grant-issued")
    check_accessibility(page)
    assert status_of_a_call(served, token) == 200

    page.goto("/grants")
    assert token not in page.content()
    page.get_by_role("link", name="Revoke browser-agent").click()
    expect(page.get_by_text("401 Unauthorized")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Revoke the grant").click()
    expect(
        page.get_by_role("status").filter(has_text="Revoked grant browser-agent")
    ).to_be_visible()
    expect(page.locator("tr", has_text="browser-agent")).to_contain_text("revoked")
    assert status_of_a_call(served, token) == 401
    page.goto("/audit")
    expect(page.locator("#events")).to_contain_text("grant.revoke")
    assert token not in page.content()
    assert token not in served.gateway.cli("logs", "--json")
    no_problems(page_log)


def test_the_admin_tokens_page_is_an_admins(page: Page, page_log: PageLog, served: Served) -> None:
    log_in(page, served.viewer, "/grants")
    expect(page.get_by_role("link", name="Admin tokens")).to_have_count(0)
    expect(page.get_by_role("link", name="Issue a grant")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()
    log_in(page, served.admin, "/grants")
    page.get_by_role("link", name="Admin tokens").click()
    expect(page.locator("tr", has_text="viewer-browser")).to_contain_text("viewer")
    screenshot(page, "admin-tokens")
    check_accessibility(page)
    page.get_by_role("link", name="Create an admin token").click()
    check_accessibility(page)
    no_problems(page_log)

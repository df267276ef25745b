"""The dashboard in a real browser, against a real ``mcpwall serve`` on loopback, with the
official MCP client as the agent: what an operator does, end to end.

The gateway walls the sandbox cluster of ``examples/seed`` (``mcpwall sandbox`` over stdio,
the seed's policy). Each test logs in through the login form with an admin token made by
``mcpwall admin token create``; every request the browser makes must stay on the admin
port's origin (the ``page`` fixture checks it at teardown). Screenshots of each page land in
``artifacts/screenshots/``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.browser.conftest import PageLog, check_accessibility, screenshot
from tests.dashboard.browser.gateway import SEED, Served, log_in, no_problems
from tests.e2e.harness import decision_of

pytestmark = pytest.mark.e2e

SEED_POLICY = (SEED / "policy.json").read_text()
NAMESPACE_RULE = "/tools/delete_pod/require/0/conditions/0"


def test_a_denied_call_appears_in_the_live_tail_and_on_the_overview(
    page: Page, page_log: PageLog, served: Served
) -> None:
    log_in(page, served.admin, "/tail")
    expect(page.locator("#tail-state")).to_have_text("Live.")
    refused = served.call("delete_pod", {"namespace": "payments-prod", "name": "api-7f9c"})
    assert decision_of(refused) == {"rule": NAMESPACE_RULE, "policy": "seed", "version": 1}
    newest = page.locator("#tail-rows tr").first
    expect(newest).to_contain_text("delete_pod")
    expect(newest).to_contain_text("deny")
    expect(newest).to_contain_text(NAMESPACE_RULE)
    screenshot(page, "tail")
    check_accessibility(page)

    page.get_by_role("link", name="Overview").click()
    guardrails = page.get_by_role("table").filter(has_text="Rule")
    expect(guardrails).to_contain_text("delete_pod")
    expect(guardrails).to_contain_text(NAMESPACE_RULE)
    screenshot(page, "overview")
    check_accessibility(page)
    no_problems(page_log)


def test_a_guardrail_leads_to_its_calls_and_a_reload_shows_the_same(
    page: Page, page_log: PageLog, served: Served
) -> None:
    served.call("delete_pod", {"namespace": "payments-prod", "name": "api-7f9c"})
    served.call("list_pods", {"namespace": "staging"})
    log_in(page, served.admin)
    page.get_by_role("link", name=NAMESPACE_RULE).first.click()
    expect(page).to_have_url(re.compile(r"/logs\?.*rule="))
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_contain_text("delete_pod")
    count = rows.count()
    assert all("deny" in rows.nth(i).inner_text() for i in range(count))
    url = page.url
    page.reload()
    assert page.url == url
    expect(page.locator("#results tbody tr")).to_have_count(count)
    expect(page.get_by_label("Rule")).to_have_value(NAMESPACE_RULE)
    screenshot(page, "logs")
    check_accessibility(page)

    # One row in full: its rule is shown as the policy text it points at.
    rows.first.get_by_role("link").click()
    expect(page.locator("pre")).to_contain_text('"args.namespace"')
    screenshot(page, "log-row")
    check_accessibility(page)
    no_problems(page_log)


def test_filtering_by_keyboard_keeps_focus_and_the_url(
    page: Page, page_log: PageLog, served: Served
) -> None:
    served.call("list_pods", {"namespace": "staging"})
    log_in(page, served.admin, "/logs")
    tool = page.get_by_label("Tool")
    tool.focus()
    page.keyboard.type("list_pods")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"tool=list_pods"))
    expect(page.locator("#results tbody tr").first).to_contain_text("list_pods")
    assert page.evaluate("document.activeElement.id") == "f-tool"
    no_problems(page_log)


def test_logging_out_ends_the_session(page: Page, served: Served) -> None:
    log_in(page, served.viewer, "/audit")
    screenshot(page, "audit")
    check_accessibility(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    page.goto("/audit")
    expect(page.get_by_label("Admin token")).to_be_visible()


def test_a_policy_edited_in_the_browser_decides_the_agents_next_call(
    page: Page, page_log: PageLog, served: Served
) -> None:
    listed = served.call("list_pods", {"namespace": "payments-prod"}, served.edited)
    prod = {"namespace": "payments-prod", "name": listed.structured_content["pods"][0]["name"]}
    refused = served.call("delete_pod", prod, served.edited)
    assert decision_of(refused) == {"rule": NAMESPACE_RULE, "policy": "edited", "version": 1}
    log_in(page, served.manager, "/policies/edited/edit")
    screenshot(page, "policy-editor")
    check_accessibility(page)
    mistaken = SEED_POLICY.replace('"op": "in"', '"op": "within"', 1)
    page.locator("#policy-text").fill(mistaken)
    page.get_by_role("button", name="Validate").click()
    validation = page.locator("#validation")
    expect(validation).to_contain_text("/tools/delete_pod/require/0/conditions/0/op")
    expect(validation).to_contain_text("within")
    screenshot(page, "policy-invalid")
    fixed = SEED_POLICY.replace(
        '["dev", "staging", "sandbox"]', '["dev", "staging", "sandbox", "payments-prod"]', 1
    )
    assert fixed != SEED_POLICY
    page.locator("#policy-text").fill(fixed)
    page.get_by_role("button", name="Save as version 2").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("version 2")
    check_accessibility(page)
    allowed = served.call("delete_pod", prod, served.edited)
    assert not allowed.is_error, allowed.content  # the sandbox deleted the pod
    # The seed policy, untouched, still refuses the same call for the other grant.
    assert served.call("delete_pod", prod).is_error
    assert [p for p in page_log.problems() if "422" not in p] == []


EVERY_PAGE = (
    ("/", "overview"), ("/logs", "logs"), ("/tail", "tail"), ("/audit", "audit"),
    ("/policies", "policies"), ("/policies/seed", "policy"),
    ("/policies/seed/versions/1", "policy-version"), ("/policies/new", "policy-new"),
    ("/upstreams", "upstreams"), ("/upstreams/k8s", "upstream"),
    ("/grants", "grants"), ("/grants/new", "grant-new"), ("/admin-tokens", "admin-tokens"),
)  # fmt: skip


def test_every_page_works_and_passes_the_accessibility_check(
    page: Page, page_log: PageLog, served: Served
) -> None:
    served.call("delete_pod", {"namespace": "payments-prod", "name": "api-7f9c"})
    log_in(page, served.admin)
    reports = {}
    for path, name in EVERY_PAGE:
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        screenshot(page, f"page-{name}")
        results = check_accessibility(page)
        reports[path] = sorted({v["id"] for v in results["violations"]})
    no_problems(page_log)
    # Minor and moderate findings are allowed but reported, so the closing note can say.
    print("axe, minor or moderate:", {path: ids for path, ids in reports.items() if ids})


def test_a_viewer_is_offered_no_revoke_and_a_forged_one_is_refused(
    page: Page, served: Served
) -> None:
    log_in(page, served.viewer, "/grants")
    row = page.locator("tr", has_text="revocable")
    expect(row).to_be_visible()
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    expect(row.get_by_role("link", name="Revoke")).to_have_count(0)
    # The viewer's own browser, its own session and CSRF token, sending what the button would.
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    forged = page.request.post(
        "/grants/revocable/revoke",
        form={"csrf_token": token},
        headers={"Origin": served.origin, "X-CSRF-Token": token},
    )
    assert forged.status == 403
    assert "needs role admin" in forged.text()
    # The grant still works.
    assert not served.call("list_pods", {"namespace": "staging"}, served.revocable).is_error

"""Reviewing and accepting a changed tool on the Upstreams page, in a real browser: the admin
API and dashboard over SQLite, a real stdio upstream whose definitions were rug-pulled. An
admin reviews the diff and accepts it; a viewer is offered no Accept. axe finds no serious
or critical issue on these pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from mcpwall.adapters.store import open_store
from mcpwall.admin import create_admin_app
from mcpwall.control import ControlPlane
from mcpwall.core.registry import Role
from tests.dashboard.browser.conftest import PageLog, check_accessibility, screenshot, serve_app
from tests.dashboard.browser.gateway import log_in, no_problems
from tests.fixtures.definitions import POISON, Definitions

pytestmark = pytest.mark.e2e


@dataclass
class Pinned:
    control: ControlPlane
    definitions: Definitions
    origin: str
    tokens: dict[Role, str]


@pytest.fixture
def pinned(tmp_path: Path) -> Iterator[Pinned]:
    store = open_store(None, tmp_path / "home", environ={})
    control = ControlPlane(store)
    tokens = {
        role: control.create_admin_token(role, label=f"{role.value}-pins", actor="cli:root").token
        for role in (Role.ADMIN, Role.VIEWER)
    }
    definitions = Definitions.create(tmp_path)
    store.add_upstream(definitions.upstream("k8s"), actor="cli:root")
    store.pin_tools("k8s", definitions.tools, instructions=definitions.instructions, actor="t")
    definitions.rug_pull()
    try:
        with serve_app(create_admin_app(control)) as origin:
            yield Pinned(control, definitions, origin, tokens)
    finally:
        store.close()


@pytest.fixture
def server_origin(pinned: Pinned) -> str:
    return pinned.origin


def test_an_admin_reviews_and_accepts_a_changed_tool(
    page: Page, page_log: PageLog, pinned: Pinned
) -> None:
    log_in(page, pinned.tokens[Role.ADMIN], "/upstreams/k8s")
    row = page.locator("tr", has=page.locator("th code", has_text="delete_pod"))
    expect(row.locator(".pin-changed")).to_have_text("changed")
    expect(
        page.locator("tr", has=page.locator("th code", has_text="describe_pod"))
    ).to_contain_text("suspicious")
    screenshot(page, "upstream-pins")
    check_accessibility(page)

    page.get_by_role("link", name="Review delete_pod").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("delete_pod")
    expect(page.locator("pre.pin-diff")).to_contain_text(f"+{POISON}")
    screenshot(page, "upstream-tool-diff")
    check_accessibility(page)

    page.get_by_role("link", name="Accept this definition").click()
    live_hash = page.locator("#live-hash").inner_text()
    expect(page.get_by_text("Accepting pins the live definition")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Accept the definition").click()
    expect(
        page.get_by_role("status").filter(has_text="Accepted the live definition of delete_pod")
    ).to_be_visible()
    expect(row.locator(".pin-pinned")).to_have_text("pinned")
    pins = pinned.control.store.get_pins("k8s")
    assert pins.tools["delete_pod"].hash == live_hash
    assert pins.tools["delete_pod"].pinned_by.startswith("admin:")
    no_problems(page_log)


def test_a_viewer_reviews_but_is_offered_no_accept(
    page: Page, page_log: PageLog, pinned: Pinned
) -> None:
    log_in(page, pinned.tokens[Role.VIEWER], "/upstreams/k8s")
    page.get_by_role("link", name="Review describe_pod").click()
    expect(page.get_by_text("Suspicious text")).to_be_visible()
    expect(page.locator("pre.pin-diff")).to_contain_text("Describe<U+200B> a pod.")
    expect(page.get_by_role("link", name="Accept this definition")).to_have_count(0)
    check_accessibility(page)
    no_problems(page_log)

"""Pins on the Upstreams pages: each tool's status, a tool's diff, and accepting it (admins
only, behind a confirmation that posts back the hash it showed), against a real stdio
upstream whose definitions a test rewrites."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from mcpwall.core.audit import AuditFilter
from mcpwall.core.registry import Role
from tests.dashboard.conftest import Dashboard
from tests.fixtures.definitions import POISON, Definitions


@pytest.fixture
def definitions(dashboard: Dashboard, tmp_path: Path) -> Definitions:
    """Upstream k8s, every tool pinned as first listed; then a rug pull."""
    found = Definitions.create(tmp_path)
    store = dashboard.control.store
    store.add_upstream(found.upstream("k8s"), actor="cli:root")
    store.pin_tools("k8s", found.tools, instructions=found.instructions, actor="cli:root")
    found.rug_pull()
    return found


def live_hash(text: str) -> str:
    found = re.search(r'<code id="live-hash">(v1:[0-9a-f]{64})</code>', text)
    assert found is not None, text
    return found.group(1)


def test_the_upstream_page_shows_the_mode_and_each_tools_pin(
    dashboard: Dashboard, definitions: Definitions
) -> None:
    text = dashboard.logged_in(Role.VIEWER).get("/upstreams/k8s").text
    assert "<dt>Pinning</dt><dd>enforce" in text
    for tool, status in (
        ("delete_pod", "changed"),
        ("get_pod_logs", "changed"),
        ("describe_pod", "suspicious"),
        ("exec", "new"),
    ):
        row = re.search(rf'<th scope="row"><code>{tool}</code>.*?</tr>', text, re.DOTALL)
        assert row is not None
        assert f'<span class="mark pin-{status}">{status}</span>' in row.group(0)
        assert f'href="/upstreams/k8s/tools/{tool}"' in row.group(0)
    assert "Pinned, no longer listed:" in text
    assert '<code>list_pods</code> <span class="mark pin-removed">removed</span>' in text
    assert "5 tools differ from their pins" in text
    listing = dashboard.logged_in(Role.VIEWER).get("/upstreams").text
    assert "<td>enforce</td>" in listing


def test_a_viewer_sees_the_diff_and_no_accept(
    dashboard: Dashboard, definitions: Definitions
) -> None:
    viewer = dashboard.logged_in(Role.VIEWER)
    text = viewer.get("/upstreams/k8s/tools/delete_pod").text
    assert "/description changed:" in text
    assert html.escape(f"+{POISON}", quote=False) in text
    assert live_hash(text).startswith("v1:")
    assert "Accept this definition" not in text
    hidden = viewer.get("/upstreams/k8s/tools/describe_pod").text
    assert "Suspicious text" in hidden
    assert "/description: U+200B" in hidden
    assert "\u200b" not in hidden
    assert viewer.get("/upstreams/k8s/tools/delete_pod/accept").status_code == 403
    forced = viewer.post("/upstreams/k8s/tools/delete_pod/accept", {"expect": live_hash(text)})
    assert forced.status_code == 403
    assert dashboard.control.store.get_pins("k8s").tools["delete_pod"].tool != definitions.tool(
        "delete_pod"
    )


def test_an_admin_accepts_what_the_confirmation_showed(
    dashboard: Dashboard, definitions: Definitions
) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    assert "Accept this definition" in admin.get("/upstreams/k8s/tools/delete_pod").text
    confirm = admin.get("/upstreams/k8s/tools/delete_pod/accept")
    assert confirm.status_code == 200
    shown = live_hash(confirm.text)
    assert f'name="expect" value="{shown}"' in confirm.text

    # The upstream changes the tool again before the admin presses the button.
    definitions.tool("delete_pod")["description"] += " And its namespace."
    definitions.write()
    stale = admin.post("/upstreams/k8s/tools/delete_pod/accept", {"expect": shown})
    assert stale.status_code == 409
    assert "changed again after the review" in stale.text
    newer = live_hash(stale.text)
    assert newer != shown

    done = admin.post("/upstreams/k8s/tools/delete_pod/accept", {"expect": newer})
    assert done.status_code == 303
    assert done.headers["location"] == "/upstreams/k8s?accepted=delete_pod"
    pins = dashboard.control.store.get_pins("k8s")
    assert pins.tools["delete_pod"].tool == definitions.tool("delete_pod")
    [event] = dashboard.control.store.list_audit(limit=1, only=AuditFilter(action="upstream.pin"))
    assert event.actor.startswith("admin:")
    assert "(admin" in event.actor
    page = admin.get("/upstreams/k8s?accepted=delete_pod").text
    assert "Accepted the live definition of delete_pod." in page


def test_accepting_a_removal_drops_the_pin_while_it_is_still_gone(
    dashboard: Dashboard, definitions: Definitions
) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    confirm = admin.get("/upstreams/k8s/tools/list_pods/accept").text
    assert 'name="expect" value="removed"' in confirm
    assert "Accepting drops this tool's pin" in confirm
    assert (
        admin.post("/upstreams/k8s/tools/list_pods/accept", {"expect": "removed"}).status_code
        == 303
    )
    assert "list_pods" not in dashboard.control.store.get_pins("k8s").tools


def test_an_acceptance_without_the_hash_is_refused(
    dashboard: Dashboard, definitions: Definitions
) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    refused = admin.post("/upstreams/k8s/tools/exec/accept", {})
    assert refused.status_code == 409
    assert "exec" not in dashboard.control.store.get_pins("k8s").tools


def test_the_add_form_sets_the_pinning_mode(dashboard: Dashboard) -> None:
    admin = dashboard.logged_in(Role.ADMIN)
    fields = {"name": "quiet", "kind": "stdio", "command": "server", "pinning": "warn"}
    assert admin.post("/upstreams", fields).status_code == 303
    assert dashboard.control.store.get_upstream("quiet").pinning.value == "warn"
    default = {"name": "plain", "kind": "stdio", "command": "server"}
    assert admin.post("/upstreams", default).status_code == 303
    assert dashboard.control.store.get_upstream("plain").pinning.value == "enforce"
    wrong = admin.post("/upstreams", {**fields, "name": "other", "pinning": "strict"})
    assert wrong.status_code == 422
    assert (
        'id="pinning-error">Tool-definition pinning &#34;strict&#34;: expected one of' in wrong.text
    )

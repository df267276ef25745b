"""The Policies pages: list, versions, text, diff, and the editor (validate, test a call, golden
cases, save), for every role, with CSRF, against the CLI's own answers for the same text."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcpwall.cli import cli
from mcpwall.control import compile_text
from mcpwall.core.registry import Role
from mcpwall.dashboard.views.policies import diff_rows
from mcpwall.dashboard.visitors import PLAIN_COOKIE
from tests.dashboard.conftest import SAME_ORIGIN, SEED_POLICY, Dashboard

CASES = SEED_POLICY.parent
SEED = SEED_POLICY.read_text()
HTMX = {**SAME_ORIGIN, "HX-Request": "true"}

READ_PAGES = [
    "/policies",
    "/policies/seed",
    "/policies/seed/versions/1",
    "/policies/seed/diff",
    "/policies/seed/diff?from=1&to=1",
]
EDIT_PAGES = ["/policies/new", "/policies/seed/edit", "/policies/seed/edit?from=1"]
ACTIONS = ["/policies/validate", "/policies/test", "/policies/cases", "/policies/save"]

# An invalid edit of the seed policy: a misspelt default and an unknown operator.
INVALID = SEED.replace('"default": "allow"', '"default": "alow"').replace(
    '"op": "in"', '"op": "in_list"', 1
)
# A valid edit with a lint warning: an unanchored regex inside require.
LINTED = SEED.replace(
    '"exec_pod": {',
    '"get_pod_logs": {"require": [{"conditions": [{"path": "args.pod", "op": "regex",'
    ' "value": "dev-"}], "on_deny": "dev pods only"}]},\n"exec_pod": {',
)


# -- helpers ---------------------------------------------------------------------------------------


class _Element(HTMLParser):
    """The inner HTML-free text of the first element with a given id."""

    VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"})

    def __init__(self, wanted: str) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.depth = 0
        self.found = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            if tag not in self.VOID:
                self.depth += 1
        elif not self.found and dict(attrs).get("id") == self.wanted:
            self.found = True
            self.depth = 0 if tag in self.VOID else 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def element_text(html: str, element_id: str) -> str:
    """The raw text inside the element with ``element_id`` (a textarea's value, exactly)."""
    finder = _Element(element_id)
    finder.feed(html)
    assert finder.found, f"no element with id {element_id!r}"
    return "".join(finder.parts)


INLINE = r"</?(?:a|code|span|strong|em|time|abbr)\b[^>]*>"


def visible(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, as a reader sees it
    (inline tags run into their neighbours; others separate words)."""
    text = re.sub(r"<[^>]+>", " ", re.sub(INLINE, "", html))
    return re.sub(r"\s+", " ", unescape(text)).strip()


def textarea(html: str, element_id: str) -> str:
    """A textarea's value as a browser reads it: the parser drops one leading newline."""
    text = element_text(html, element_id)
    return text[1:] if text.startswith("\n") else text


def fields(text: str, *, name: str = "seed", base: int = 1, **extra: str) -> dict[str, str]:
    return {"name": name, "base": str(base), "text": text, **extra}


def seeded(dashboard: Dashboard, text: str = SEED, name: str = "seed") -> None:
    dashboard.control.set_policy(name, text, actor="cli:root")


def versions(dashboard: Dashboard, name: str = "seed") -> int:
    return len(dashboard.control.policy_versions(name))


def cli_run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code in (0, 1, 2), result.output
    return result.output


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- who may see and do what -----------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("path", READ_PAGES)
def test_every_role_reads_every_policy_page(dashboard: Dashboard, role: Role, path: str) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(role).get(path)
    assert answer.status_code == 200, answer.text
    assert "seed" in answer.text


@pytest.mark.parametrize("path", EDIT_PAGES)
def test_the_editor_is_for_policy_managers_and_admins(dashboard: Dashboard, path: str) -> None:
    seeded(dashboard)
    assert dashboard.logged_in(Role.VIEWER).get(path).status_code == 403
    for role in (Role.POLICY_MANAGER, Role.ADMIN):
        answer = dashboard.logged_in(role).get(path)
        assert answer.status_code == 200
        assert 'action="/policies/save"' in answer.text


@pytest.mark.parametrize("path", READ_PAGES)
def test_a_viewer_is_offered_no_edit(dashboard: Dashboard, path: str) -> None:
    seeded(dashboard)
    seen = dashboard.logged_in(Role.VIEWER).get(path).text
    assert 'href="/policies/new"' not in seen
    assert "/edit" not in seen
    assert "/policies/save" not in seen
    assert 'method="post" action="/policies' not in seen


def test_a_policy_manager_is_offered_new_and_edit(dashboard: Dashboard) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    assert 'href="/policies/new"' in browser.get("/policies").text
    assert 'href="/policies/seed/edit"' in browser.get("/policies/seed").text
    assert 'href="/policies/seed/edit"' in browser.get("/policies/seed/versions/1").text


@pytest.mark.parametrize("path", ACTIONS)
def test_a_forged_post_from_a_viewer_is_refused_and_changes_nothing(
    dashboard: Dashboard, path: str
) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.VIEWER)
    events = len(dashboard.control.audit_page())
    answer = browser.post(path, fields(SEED + " ", tool="x"))
    assert answer.status_code == 403
    assert "policy_manager" in answer.text
    assert versions(dashboard) == 1
    assert len(dashboard.control.audit_page()) == events


@pytest.mark.parametrize("path", ACTIONS)
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site"},
        {},
    ],
)
def test_a_post_from_another_origin_is_refused(
    dashboard: Dashboard, path: str, headers: dict[str, str]
) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.ADMIN)
    answer = browser.post(path, fields(SEED + " ", tool="x"), headers=headers)
    assert answer.status_code == 403
    assert versions(dashboard) == 1


@pytest.mark.parametrize("path", ACTIONS)
def test_a_post_without_its_csrf_token_is_refused(dashboard: Dashboard, path: str) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.ADMIN)
    assert browser.post(path, fields(SEED + " ", tool="x"), csrf=False).status_code == 403
    forged = fields(SEED + " ", tool="x", csrf_token="0" * 64)
    assert browser.post(path, forged).status_code == 403
    assert versions(dashboard) == 1


@pytest.mark.parametrize("path", ACTIONS)
def test_a_post_without_a_session_is_told_to_log_in(dashboard: Dashboard, path: str) -> None:
    seeded(dashboard)
    assert dashboard.browser().post(path, fields(SEED + " ")).status_code == 401
    assert versions(dashboard) == 1


def test_pages_send_a_stranger_to_log_in(dashboard: Dashboard) -> None:
    seeded(dashboard)
    answer = dashboard.browser().get("/policies/seed/diff?from=1&to=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fpolicies%2Fseed%2Fdiff%3Ffrom%3D1%26to%3D1"


# -- reading -------------------------------------------------------------------------------------


def test_the_list_shows_each_policy_current_version_when_and_by_whom(
    dashboard: Dashboard,
) -> None:
    seeded(dashboard)
    dashboard.clock.advance(90)
    dashboard.control.set_policy("seed", SEED + "\n", actor="admin:abc (alice)")
    seeded(dashboard, name="other")
    table = visible(dashboard.logged_in(Role.VIEWER).get("/policies").text)
    assert "other 1" in table
    assert "seed 2" in table
    assert "admin:abc (alice)" in table
    latest = dashboard.control.policy_version("seed").created_at
    assert latest.strftime("%Y-%m-%d %H:%M:%SZ") in table


def test_a_policy_page_lists_every_version_with_who_and_when(dashboard: Dashboard) -> None:
    seeded(dashboard)
    dashboard.control.set_policy("seed", SEED.replace("sandbox", "qa"), actor="admin:x (bob)")
    page = dashboard.logged_in(Role.VIEWER).get("/policies/seed").text
    assert 'href="/policies/seed/versions/1"' in page
    assert 'href="/policies/seed/versions/2"' in page
    assert 'href="/policies/seed/diff?from=1&amp;to=2"' in page
    text = visible(page)
    assert "Version 2 is current" in text
    assert "cli:root" in text
    assert "admin:x (bob)" in text
    assert '"qa"' in text


def test_a_version_page_shows_that_version_exactly(dashboard: Dashboard) -> None:
    seeded(dashboard)
    dashboard.control.set_policy("seed", "version: '1'\ndefault: deny\n", actor="cli:root")
    page = dashboard.logged_in(Role.VIEWER).get("/policies/seed/versions/1").text
    shown = element_text(page.replace("<pre", '<pre id="shown"', 1), "shown")
    assert shown == SEED
    assert "The current version is" in visible(page)


def test_a_version_page_lists_its_lint_warnings(dashboard: Dashboard) -> None:
    seeded(dashboard, LINTED)
    text = visible(dashboard.logged_in(Role.VIEWER).get("/policies/seed/versions/1").text)
    [warning] = dashboard.control.compiled_policy("seed").warnings
    assert f"{warning.pointer}: {warning.message}" in text


def test_a_diff_shows_the_changed_lines_marked_plus_and_minus(dashboard: Dashboard) -> None:
    seeded(dashboard)
    changed = SEED.replace('"max": 5', '"max": 3')
    dashboard.control.set_policy("seed", changed, actor="cli:root")
    page = dashboard.logged_in(Role.VIEWER).get("/policies/seed/diff?from=1&to=2").text
    rows = re.findall(r'<tr class="diff-(\w+)">(.*?)</tr>', page, re.S)
    removed = [visible(cells) for kind, cells in rows if kind == "removed"]
    added = [visible(cells) for kind, cells in rows if kind == "added"]
    line = SEED.splitlines().index('"max": 5,') + 1
    # The visible marker (- or +) and, for screen readers, the word.
    assert removed == [f'{line} -removed "max": 5,']
    assert added == [f'{line} +added "max": 3,']
    assert '<span aria-hidden="true">+</span><span class="visually-hidden">added</span>' in page
    assert "1 line removed (marked -), 1 added (marked +)" in visible(page)


def test_a_diff_defaults_to_the_current_version_against_the_one_before(
    dashboard: Dashboard,
) -> None:
    seeded(dashboard)
    dashboard.control.set_policy("seed", SEED.replace("sandbox", "qa"), actor="cli:root")
    page = dashboard.logged_in(Role.VIEWER).get("/policies/seed/diff").text
    assert "Version 1 → version 2" in visible(page)
    removed = re.findall(r'<tr class="diff-removed">(.*?)</tr>', page, re.S)
    assert len(removed) == SEED.count("sandbox")
    assert all('"sandbox"' in visible(row) for row in removed)


def test_a_diff_of_identical_versions_says_so(dashboard: Dashboard) -> None:
    seeded(dashboard)
    seeded(dashboard)
    page = dashboard.logged_in(Role.VIEWER).get("/policies/seed/diff?from=1&to=2").text
    assert "The two texts are identical." in page
    assert 'class="diff-' not in page


def test_the_diff_table_keeps_a_gap_row_where_unchanged_lines_are_left_out() -> None:
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 10", "line ten")
    rows = diff_rows(old, new)
    assert [row.change for row in rows] == ["gap"] + ["same"] * 3 + [
        "removed",
        "added",
    ] + ["same"] * 3 + ["gap"]
    assert (rows[4].old, rows[4].new, rows[5].old, rows[5].new) == (10, None, None, 10)
    assert diff_rows(old, old) == []


def test_a_diff_asked_by_htmx_is_only_the_diff_region(dashboard: Dashboard) -> None:
    seeded(dashboard)
    seeded(dashboard, SEED.replace("sandbox", "qa"))
    browser = dashboard.logged_in(Role.VIEWER)
    whole = browser.get("/policies/seed/diff?from=1&to=2").text
    part = browser.htmx("/policies/seed/diff?from=1&to=2").text
    assert "<html" in whole
    assert 'hx-target="#diff"' in whole
    assert 'id="diff"' in whole
    assert "<html" not in part
    assert part.lstrip().startswith('<div id="diff">')
    assert "diff-added" in part


@pytest.mark.parametrize(
    "path",
    [
        "/policies/nope",
        "/policies/nope/versions/1",
        "/policies/nope/diff",
        "/policies/seed/versions/9",
        "/policies/seed/diff?from=1&to=9",
        "/policies/seed/diff?from=7",
    ],
)
def test_what_does_not_exist_is_a_404_page(dashboard: Dashboard, path: str) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.VIEWER).get(path)
    assert answer.status_code == 404
    assert "not found" in answer.text


def test_an_editor_for_a_policy_that_does_not_exist_is_a_404(dashboard: Dashboard) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).get("/policies/nope/edit")
    assert answer.status_code == 404
    assert "policy &#34;nope&#34; not found" in answer.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/policies/seed/versions/0", 'policy version "0": expected a whole number from 1'),
        ("/policies/seed/versions/abc", 'policy version "abc": expected a whole number'),
        ("/policies/seed/versions/-1", 'policy version "-1": expected a whole number'),
        ("/policies/seed/diff?from=x&to=1", 'policy from "x": expected a whole number'),
        ("/policies/seed/diff?to=99999999999", 'policy to "99999999999": expected'),
    ],
)
def test_a_version_number_that_is_no_number_is_a_422(
    dashboard: Dashboard, path: str, message: str
) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.VIEWER).get(path)
    assert answer.status_code == 422
    assert message in unescape(answer.text)


def test_version_404_names_the_latest(dashboard: Dashboard) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.VIEWER).get("/policies/seed/versions/5")
    assert 'version "5" not found (latest is 1)' in unescape(answer.text)


# -- validate --------------------------------------------------------------------------------------


def test_validate_shows_every_error_of_the_cli_with_its_pointer_and_line(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post("/policies/validate", fields(INVALID))
    assert answer.status_code == 422
    shown = visible(element_text(answer.text, "validation"))
    printed = cli_run("policy", "validate", str(write(tmp_path, "p.json", INVALID)))
    problems = [line for line in printed.splitlines() if line.startswith("/")]
    assert len(problems) == 2
    for problem in problems:
        assert problem in shown
    lines = INVALID.splitlines()
    default_line = next(n for n, line in enumerate(lines, 1) if '"alow"' in line)
    op_line = next(n for n, line in enumerate(lines, 1) if '"in_list"' in line)
    assert (
        f'<a href="#policy-text" data-line="{default_line}">line {default_line}</a>' in answer.text
    )
    assert f'data-line="{op_line}">line {op_line}</a> <code>/tools/delete_pod' in re.sub(
        r"\s+", " ", answer.text
    )
    assert versions(dashboard) == 1


def test_validate_places_yaml_errors_on_their_lines(dashboard: Dashboard) -> None:
    text = "version: '1'\ndefault: deny\ntools:\n  x:\n    deney_if: []\n"
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/validate", fields(text, name="", base=0, new="1")
    )
    assert answer.status_code == 422
    assert 'data-line="5">line 5</a>' in answer.text
    assert "/tools/x/deney_if" in answer.text


def test_validate_places_a_syntax_error_on_its_line(dashboard: Dashboard) -> None:
    text = '{\n  "version": "1",\n  "default" "deny"\n}\n'
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/validate", fields(text, name="", base=0, new="1")
    )
    assert answer.status_code == 422
    assert 'data-line="3">line 3</a>' in answer.text
    assert "not valid JSON" in answer.text


def test_validate_of_a_valid_text_lists_its_lint_warnings_and_stores_nothing(
    dashboard: Dashboard,
) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post("/policies/validate", fields(LINTED))
    assert answer.status_code == 200
    shown = visible(element_text(answer.text, "validation"))
    assert shown.startswith("Valid.")
    assert "1 warning." in shown
    [warning] = compile_text(LINTED, name="seed").warnings
    assert f"{warning.pointer}: {warning.message}" in shown
    assert versions(dashboard) == 1


def test_validate_for_htmx_answers_only_the_validation_region(dashboard: Dashboard) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    part = browser.post("/policies/validate", fields(INVALID), headers=HTMX)
    whole = browser.post("/policies/validate", fields(INVALID))
    assert part.status_code == whole.status_code == 422
    assert "<html" not in part.text
    assert "<textarea" not in part.text
    assert "Invalid: 2 problems." in part.text
    assert "<html" in whole.text
    assert 'hx-target="#validation"' in whole.text
    assert 'id="validation"' in whole.text
    # The form marks itself for app.js to swap its 422 answers in.
    assert 'id="editor" data-swap-invalid' in whole.text


def test_validate_says_when_the_text_is_the_current_version(dashboard: Dashboard) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post("/policies/validate", fields(SEED))
    assert "The text is the same as the current version 1" in visible(answer.text)


# -- save ------------------------------------------------------------------------------------------


def test_an_invalid_save_stores_nothing_and_keeps_the_text_as_typed(
    dashboard: Dashboard,
) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    events = len(dashboard.control.audit_page())
    typed = INVALID.replace("\n", "\r\n") + "  \n"
    answer = browser.post("/policies/save", fields(typed))
    assert answer.status_code == 422
    assert versions(dashboard) == 1
    assert len(dashboard.control.audit_page()) == events
    assert textarea(answer.text, "policy-text") == INVALID + "  \n"
    shown = visible(element_text(answer.text, "validation"))
    assert '/default: found "alow"' in shown
    assert '/tools/delete_pod/require/0/conditions/0/op: unknown operator "in_list"' in shown


@pytest.mark.parametrize("role", [Role.POLICY_MANAGER, Role.ADMIN])
def test_a_valid_save_is_the_next_version_audited_under_the_visitor(
    dashboard: Dashboard, role: Role
) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(role)
    answer = browser.post("/policies/save", fields(LINTED.replace("\n", "\r\n")))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/policies/seed/versions/2?saved=1"
    stored = dashboard.control.policy_version("seed")
    assert (stored.version, stored.text) == (2, LINTED)  # CRLF from the browser stored as LF
    assert stored.created_by == dashboard.actor(role)
    [event] = dashboard.control.audit_page(limit=1)
    assert (event.action, event.object_id, event.actor) == (
        "policy.set",
        "seed",
        dashboard.actor(role),
    )
    assert event.details["version"] == 2
    saved = visible(browser.get(answer.headers["location"]).text)
    assert "Saved as version 2." in saved
    assert "Agents get it from their next call" in saved
    [warning] = compile_text(LINTED, name="seed").warnings
    assert f"{warning.pointer}: {warning.message}" in saved


def test_saving_an_unchanged_text_stores_it_again_and_says_so(dashboard: Dashboard) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    answer = browser.post("/policies/save", fields(SEED))
    assert answer.status_code == 303
    assert versions(dashboard) == 2  # as `mcpwall policy set` and PUT /api/policies/{name} do
    saved = visible(browser.get(answer.headers["location"]).text)
    assert "The text is identical to version 1." in saved


def test_a_save_over_a_version_someone_else_replaced_is_a_conflict(dashboard: Dashboard) -> None:
    seeded(dashboard)
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    dashboard.control.set_policy("seed", SEED.replace("sandbox", "qa"), actor="admin:x (bob)")
    mine = SEED.replace("staging", "stage")
    answer = browser.post("/policies/save", fields(mine, base=1))
    assert answer.status_code == 409
    assert versions(dashboard) == 2
    text = visible(answer.text)
    assert "version 2 was set by admin:x (bob) (you started from version 1)" in text
    assert "Nothing was saved." in text
    assert textarea(answer.text, "policy-text") == mine
    assert 'href="/policies/seed/diff?from=1&amp;to=2"' in answer.text
    assert 'name="base" value="2"' in answer.text
    # Saving again, knowing, stores it.
    again = browser.post("/policies/save", fields(mine, base=2))
    assert again.status_code == 303
    assert dashboard.control.policy_version("seed").text == mine


def test_a_new_policy_is_saved_as_version_1(dashboard: Dashboard) -> None:
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    page = browser.get("/policies/new").text
    assert '<label for="policy-name">Name</label>' in page
    answer = browser.post("/policies/save", fields(SEED, name="fresh", base=0, new="1"))
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/policies/fresh/versions/1?saved=1",
    )
    assert dashboard.control.policy_version("fresh").created_by == dashboard.actor(
        Role.POLICY_MANAGER
    )


@pytest.mark.parametrize("name", ["", "Bad Name", "-x", "a" * 64, "ünï"])
def test_a_new_policy_needs_a_valid_name(dashboard: Dashboard, name: str) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/save", fields(SEED, name=name, base=0, new="1")
    )
    assert answer.status_code == 422
    assert dashboard.control.policies() == []
    error = visible(element_text(answer.text, "policy-name-error"))
    assert error.startswith(f'policy name "{name}": expected a lowercase letter or digit')
    assert 'aria-invalid="true"' in answer.text
    assert textarea(answer.text, "policy-text") == SEED


def test_a_new_policy_under_a_taken_name_is_a_conflict(dashboard: Dashboard) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/save", fields("version: '1'\ndefault: deny\n", base=0, new="1")
    )
    assert answer.status_code == 409
    assert 'A policy named "seed" already exists, at version 1' in unescape(answer.text)
    assert versions(dashboard) == 1
    assert 'name="policy-name"' not in answer.text
    assert 'id="policy-name"' in answer.text  # still the new-policy form, the name editable


def test_the_editor_starts_from_the_current_text_or_an_older_one(dashboard: Dashboard) -> None:
    seeded(dashboard)
    newer = "version: '1'\ndefault: deny\n"
    dashboard.control.set_policy("seed", newer, actor="cli:root")
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    current = browser.get("/policies/seed/edit").text
    assert textarea(current, "policy-text") == newer
    assert 'name="base" value="2"' in current
    older = browser.get("/policies/seed/edit?from=1").text
    assert textarea(older, "policy-text") == SEED
    assert 'name="base" value="2"' in older
    assert "This text is version 1's: saving stores it as version 3." in visible(older)
    assert "Save as version 3" in older


# -- test a call -----------------------------------------------------------------------------------

# The edit, never saved: qa joins the namespaces delete_pod allows.
EDITED = SEED.replace('"value": ["dev", "staging", "sandbox"] }', '"value": ["dev", "qa"] }', 1)
DECODERS = (CASES / "decoders.policy.json").read_text()
CALLS = [
    (EDITED, "delete_pod", {"namespace": "payments-prod", "name": "checkout"}),
    (EDITED, "delete_pod", {"namespace": "qa"}),  # allowed by the edit only, with its limit
    (EDITED, "apply_manifest", {"namespace": "dev", "kind": "ClusterRole"}),
    (EDITED, "get_secret", {}),
    (EDITED, "list_pods", {}),
    (DECODERS, "find", {"filter": "{bad"}),  # an argument that can't be read
    (DECODERS, "find_fields", {"filter": '{"$and": [{"field": "a"}, {"x": 1}]}'}),  # a "*"
]


def trace_cells(line: str) -> str:
    """A trace line the CLI prints, as the page's table row reads."""
    held = "yes" if line.startswith("  ✓") else "no"
    pointer, _, rest = line[4:].partition("  ")
    test, found_label, found = rest.rpartition("  found ")
    if not found_label:
        test, _, reason = rest.partition("  could not be read: ")
        found = f"could not be read: {reason}"
    return f"{held} {pointer} {test} {found}"


@pytest.mark.parametrize(("policy", "tool", "args"), CALLS)
def test_a_call_against_the_unsaved_text_gets_what_the_cli_says(
    dashboard: Dashboard, tmp_path: Path, policy: str, tool: str, args: dict[str, object]
) -> None:
    seeded(dashboard)
    arguments = json.dumps(args)
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/test", fields(policy, tool=tool, args=arguments), headers=HTMX
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text
    shown = visible(answer.text)
    path = write(tmp_path, "edited.json", policy)
    said = json.loads(
        cli_run("policy", "test", str(path), "--tool", tool, "--args", arguments, "--json")
    )
    assert shown.startswith(f"{said['decision']} {tool}")
    assert f"rule {said['rule']}" in shown
    assert f"message {said['message'] or '-'}" in shown
    # Every fact and trace line the CLI prints, the page shows (the trace as table cells).
    printed = cli_run("policy", "test", str(path), "--tool", tool, "--args", arguments)
    checked = 0
    for line in printed.splitlines()[1:]:
        if line.startswith(("  ✓ ", "  ✗ ")):
            assert trace_cells(line) in shown
        elif line != "trace" and not line.startswith("policy "):  # the page names it "seed"
            label, _, value = line.partition("  ")
            assert f"{label.strip()} {value.strip()}" in shown
        checked += 1
    assert checked >= 2
    assert versions(dashboard) == 1  # nothing stored
    assert dashboard.control.policy_version("seed").text == SEED


def test_a_call_shows_the_policy_text_its_rule_points_at(dashboard: Dashboard) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/test",
        fields(SEED, name="", base=0, new="1", tool="apply_manifest", args='{"namespace": "x"}'),
        headers=HTMX,
    )
    rule = "/tools/apply_manifest/require/0/conditions/0"
    line = SEED.splitlines().index(
        '{ "path": "args.namespace", "op": "in", "value": ["dev", "staging", "sandbox"] },'
    )
    assert f"The rule in the text: <code>{rule}</code>" in answer.text
    assert f'data-line="{line + 1}">line {line + 1}</a>' in answer.text
    source = re.search(r'<pre class="rule-source"[^>]*><code>(.*?)</code>', answer.text, re.S)
    assert source is not None
    assert json.loads(unescape(source[1])) == {
        "path": "args.namespace",
        "op": "in",
        "value": ["dev", "staging", "sandbox"],
    }


def test_a_hidden_tool_points_at_its_entry_in_hide(dashboard: Dashboard) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/test", fields(SEED, tool="get_secret", args="{}"), headers=HTMX
    )
    assert "The rule in the text: <code>/hide/1</code>" in answer.text
    assert "agent sees JSON-RPC error -32602 Unknown tool: get_secret" in visible(answer.text)


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("", "{}", "tool: empty (expected the name of the tool the agent calls)"),
        ("x", "[1]", "arguments: expected a JSON object, found array"),
        ("x", "{nope", "arguments: not valid JSON"),
        ("x", '{"a": 1, "a": 2}', "arguments: duplicate key at /a"),
    ],
)
def test_a_call_with_bad_input_is_a_422_at_its_field(
    dashboard: Dashboard, tool: str, args: str, message: str
) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/test", fields(SEED, tool=tool, args=args)
    )
    assert answer.status_code == 422
    field = "tool" if message.startswith("tool") else "args"
    assert visible(element_text(answer.text, f"trial-{field}-error")).startswith(message)
    assert f'aria-describedby="trial-{field}-error"' in answer.text
    assert textarea(answer.text, "trial-args") == args


def test_a_call_against_an_invalid_text_lists_its_errors(dashboard: Dashboard) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/test", fields(INVALID, tool="delete_pod", args="{}"), headers=HTMX
    )
    assert answer.status_code == 422
    shown = visible(answer.text)
    assert "The policy text is invalid (2 problems)" in shown
    assert '/default: found "alow"' in shown


def test_the_arguments_are_shown_back_only_to_the_one_who_typed_them(
    dashboard: Dashboard,
) -> None:
    secret = "s3cr3t-value-7781"
    dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/test", fields(SEED, tool="delete_pod", args=json.dumps({"namespace": secret}))
    )
    page = dashboard.logged_in(Role.ADMIN).get("/audit").text
    assert secret not in page
    assert all(secret not in json.dumps(dict(e.details)) for e in dashboard.control.audit_page())


# -- golden cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["seed", "seed-yaml", "decoders", "limits"])
def test_the_golden_cases_pass_as_they_do_through_the_cli(dashboard: Dashboard, stem: str) -> None:
    policy = next(CASES.glob(f"{stem}.policy.*"))
    cases = CASES / f"{stem}.cases.yaml"
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/cases",
        fields(policy.read_text(), name=stem, base=0, new="1", cases=cases.read_text()),
        headers=HTMX,
    )
    assert answer.status_code == 200
    said = cli_run("policy", "test", str(policy), "--cases", str(cases))
    summary = re.match(r"(\d+ passed, 0 failed)", said.splitlines()[-1])
    assert summary is not None
    assert visible(answer.text).startswith(summary[1])
    assert "FAILED" not in answer.text


def test_a_failing_case_shows_what_was_expected_and_what_came_out(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    cases = (CASES / "seed.cases.yaml").read_text()
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/cases", fields(EDITED, cases=cases), headers=HTMX
    )
    assert answer.status_code == 200
    shown = visible(answer.text)
    printed = cli_run(
        "policy",
        "test",
        str(write(tmp_path, "edited.json", EDITED)),
        "--cases",
        str(write(tmp_path, "seed.cases.yaml", cases.replace("policy: seed.policy.json", ""))),
    )
    failures = [line[2:].partition("  (")[0] for line in printed.splitlines() if line[:2] == "✗ "]
    mismatches = [line.strip() for line in printed.splitlines() if line.startswith("    ")]
    assert failures
    assert shown.startswith(printed.splitlines()[-1].partition(" (")[0])
    for name in failures:
        assert f"{name} ✗ FAILED" in shown
    for mismatch in mismatches:
        assert unescape(mismatch) in shown


@pytest.mark.parametrize(
    ("cases", "pointer", "line"),
    [
        (
            "cases:\n  - name: a\n    tool: x\n    expect: {decision: maybe, rule: x}\n",
            "/cases/0/expect/decision",
            4,
        ),
        ("cases: [\n", "(root)", 2),
        ("nope: 1\n", "/nope", 1),
    ],
)
def test_a_cases_text_that_is_not_a_cases_file_is_a_422_with_its_lines(
    dashboard: Dashboard, cases: str, pointer: str, line: int
) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/cases", fields(SEED, cases=cases), headers=HTMX
    )
    assert answer.status_code == 422
    assert f'<a href="#cases-text" data-line="{line}">line {line}</a>' in answer.text
    assert f"<code>{pointer}</code>" in answer.text


def test_cases_against_an_invalid_text_list_its_errors(dashboard: Dashboard) -> None:
    answer = dashboard.logged_in(Role.POLICY_MANAGER).post(
        "/policies/cases", fields(INVALID, cases="cases: []\n"), headers=HTMX
    )
    assert answer.status_code == 422
    assert "the cases can't run against it" in unescape(answer.text)


# -- what never shows ------------------------------------------------------------------------------


def test_no_page_shows_a_token_or_the_session_secret(dashboard: Dashboard) -> None:
    seeded(dashboard)
    seeded(dashboard, LINTED)
    browser = dashboard.logged_in(Role.ADMIN)
    secret = browser.client.cookies[PLAIN_COOKIE]
    pages = [browser.get(path).text for path in READ_PAGES + EDIT_PAGES]
    pages += [browser.post(path, fields(SEED, tool="x")).text for path in ACTIONS[:3]]
    for page in pages:
        assert secret not in page
        for token in dashboard.tokens.values():
            assert token not in page


def test_the_editor_markup_follows_the_rules(dashboard: Dashboard) -> None:
    seeded(dashboard)
    page = dashboard.logged_in(Role.POLICY_MANAGER).get("/policies/seed/edit").text
    assert "style=" not in page
    assert "<script>" not in page
    assert " on" + "click" not in page
    for target in re.findall(r'hx-target="#([\w-]+)"', page):
        assert f'id="{target}"' in page
    for field_id in re.findall(r'<(?:input|textarea|select)[^>]*\sid="([\w-]+)"', page):
        assert f'<label for="{field_id}">' in page
    assert page.count('name="csrf_token"') == 2  # the editor's form and the logout form


def test_a_policy_named_new_opens_at_its_version_since_new_is_the_editor(
    dashboard: Dashboard,
) -> None:
    seeded(dashboard, name="new")
    browser = dashboard.logged_in(Role.POLICY_MANAGER)
    assert 'href="/policies/new/versions/1">new</a>' in browser.get("/policies").text
    assert browser.get("/policies/new/versions/1").status_code == 200
    assert browser.get("/policies/new/edit").status_code == 200
    assert 'id="policy-name"' in browser.get("/policies/new").text  # the new-policy editor


def test_an_invalid_version_number_page_says_so_in_its_heading(dashboard: Dashboard) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.VIEWER).get("/policies/seed/versions/x")
    assert "<h1>Not valid</h1>" in answer.text


@pytest.mark.parametrize(
    ("query", "status"), [("?from=9", 404), ("?from=x", 422), ("?from=0", 422)]
)
def test_an_editor_from_a_version_that_is_not_there_is_refused(
    dashboard: Dashboard, query: str, status: int
) -> None:
    seeded(dashboard)
    answer = dashboard.logged_in(Role.POLICY_MANAGER).get("/policies/seed/edit" + query)
    assert answer.status_code == status

"""Policies, read: every policy, a policy's versions, one version's text, and a diff of two.

Every version is kept exactly as it was set, with when and by whom (``mcpwall policy list``,
``policy show``). A diff compares two stored texts line by line (``difflib``), shown as a
table whose added and removed lines carry ``+`` and ``-`` as well as a colour.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from mcpwall.control.drafts import Draft
from mcpwall.core.queryvalues import MAX_VERSION, whole_number
from mcpwall.dashboard.pages import Page, PageCall

CONTEXT_LINES = 3  # unchanged lines shown around each change

Change = Literal["same", "removed", "added", "gap"]


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One line of a diff: unchanged, removed, added, or a gap of unchanged lines not shown."""

    change: Change
    old: int | None  # the line's number in the older text
    new: int | None  # … in the newer text
    text: str

    @property
    def marker(self) -> str:
        return {"same": " ", "removed": "-", "added": "+", "gap": "…"}[self.change]


def index(call: PageCall) -> Page:
    return Page("policies.html", {"policies": call.control.policies()})


def show(call: PageCall) -> Page:
    """A policy: its current text and lint warnings, and every version, newest first."""
    name = call.params["name"]
    versions = call.control.policy_versions(name)
    current = versions[-1]
    context = {
        "name": name,
        "current": current,
        "versions": versions[::-1],
        "draft": Draft(name, current.text),
    }
    return Page("policy.html", context)


def version(call: PageCall) -> Page:
    """One version's text exactly as set, its lint warnings, and what changed from the one
    before; after a save (``?saved=1``) it says the version is now the one agents get."""
    name = call.params["name"]
    number = version_number(call.params["version"], "version")
    stored = call.control.policy_version(name, number)
    latest = call.control.policy_version(name)
    previous = call.control.policy_version(name, number - 1) if number > 1 else None
    context = {
        "name": name,
        "stored": stored,
        "latest": latest,
        "draft": Draft(name, stored.text),
        "same_as_previous": previous is not None and previous.text == stored.text,
        "saved": call.query.get("saved") == "1" and number == latest.version,
    }
    return Page("policy_version.html", context)


def diff(call: PageCall) -> Page:
    """``?from=N&to=M``: the lines that differ between two versions (default: the current
    version against the one before it)."""
    name = call.params["name"]
    latest = call.control.policy_version(name)
    to_text, from_text = call.query.get("to"), call.query.get("from")
    to = latest.version if not to_text else version_number(to_text, "to")
    start = max(1, to - 1) if not from_text else version_number(from_text, "from")
    older = call.control.policy_version(name, start)
    newer = call.control.policy_version(name, to)
    rows = diff_rows(older.text, newer.text)
    context = {
        "name": name,
        "latest": latest,
        "older": older,
        "newer": newer,
        "rows": rows,
        "identical": older.text == newer.text,
        "removed": sum(1 for row in rows if row.change == "removed"),
        "added": sum(1 for row in rows if row.change == "added"),
    }
    return Page("policy_diff.html", context, block="diff")


def version_number(text: str, what: str) -> int:
    """A version number from the URL: a whole number from 1 (422 otherwise)."""
    return whole_number(text, f"policy {what}", 1, MAX_VERSION)


def diff_rows(old: str, new: str, context: int = CONTEXT_LINES) -> list[DiffRow]:
    """The changed lines of ``new`` against ``old``, each with ``context`` unchanged lines
    around it and a gap row where unchanged lines are left out; no rows when the texts agree."""
    before, after = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    groups = list(matcher.get_grouped_opcodes(context))
    rows: list[DiffRow] = []
    for group in groups:
        first_old, first_new = group[0][1], group[0][3]
        if rows or first_old > 0 or first_new > 0:
            rows.append(DiffRow("gap", None, None, "unchanged lines not shown"))
        for tag, old_start, old_end, new_start, new_end in group:
            if tag == "equal":
                rows += [
                    DiffRow("same", old_start + i + 1, new_start + i + 1, before[old_start + i])
                    for i in range(old_end - old_start)
                ]
                continue
            rows += [DiffRow("removed", i + 1, None, before[i]) for i in range(old_start, old_end)]
            rows += [DiffRow("added", None, i + 1, after[i]) for i in range(new_start, new_end)]
    if groups and (groups[-1][-1][2] < len(before) or groups[-1][-1][4] < len(after)):
        rows.append(DiffRow("gap", None, None, "unchanged lines not shown"))
    return rows

"""Editing a policy in the browser: validate, try a call, run golden cases, save.

One form carries the text and the test inputs; each button posts it to its own action.
Without JavaScript each answer is the whole editor again with that button's result filled in;
with htmx, only the result's region is swapped. Nothing but Save changes anything, and Save
goes through :meth:`ControlPlane.set_policy` like ``mcpwall policy set`` and the API's
``PUT /api/policies/{name}``: an invalid text is never stored, a valid one becomes the next
version, recorded in the audit trail under the visitor's admin token, and every gateway
serves it from its next request (they reload when the store's revision moves).

Saving a text identical to the current version stores it again as a new version, as the CLI
and the API do: the surfaces share one operation and one behaviour, and the version history
then records that someone re-asserted the policy. The editor says so before and after.

A save names the version the edit started from (``base``). If the policy moved on meanwhile
(someone else saved), nothing is stored: the editor shows what happened, keeps the text, and a
second Save, made knowing it, stores it. (The check and the store are two steps, so two saves
in the same instant can still both land; the audit trail shows both.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from mcpwall.control.drafts import Draft, run_cases, try_call
from mcpwall.core.errors import ArgumentsError, InvalidName, NotFound
from mcpwall.core.jsonvalue import render
from mcpwall.core.names import check_name
from mcpwall.core.policy import load_arguments
from mcpwall.core.queryvalues import MAX_VERSION, whole_number
from mcpwall.core.registry import PolicyVersion
from mcpwall.dashboard.pages import Page, PageCall
from mcpwall.dashboard.views.policies import version_number

STARTER = """{
  "version": "1",
  "default": "deny",
  "tools": {
  }
}
"""

STARTER_CASES = """cases:
  - name: an example
    tool: get_pod_logs
    args: {namespace: dev}
    expect:
      decision: allow
      rule: "(allowed)"
"""


@dataclass(frozen=True, slots=True)
class Form:
    """The editor's fields as submitted (or as a page starts them)."""

    name: str
    base: int  # the version the edit started from; 0 for a new policy
    new: bool  # the page names the policy in a field (a new policy), not in its heading
    text: str
    tool: str = ""
    args: str = "{}"
    cases: str = STARTER_CASES


def new(call: PageCall) -> Page:
    """An empty editor with a name field."""
    context = editor_context(Form("", 0, True, STARTER), None)
    return Page("policy_edit.html", context)


def edit(call: PageCall) -> Page:
    """The editor over the current version's text, or an older one's (``?from=N``)."""
    name = call.params["name"]
    current = call.control.policy_version(name)
    start = current
    wanted = call.query.get("from")
    if wanted:
        start = call.control.policy_version(name, version_number(wanted, "from"))
    context = editor_context(Form(name, current.version, False, start.text), current)
    context["started_from"] = start.version
    return Page("policy_edit.html", context)


def validate(call: PageCall) -> Page:
    """Every error at its pointer and line, and every lint warning; nothing is stored."""
    form = read_form(call)
    draft = Draft(form.name or "new policy", form.text)
    context = editor_context(form, current_of(call, form.name)) | {"draft": draft}
    return Page("policy_edit.html", context, block="validation", status=status_of(draft))


def try_a_call(call: PageCall) -> Page:
    """One call against the text as typed: decision, rule, message and trace."""
    form = read_form(call)
    draft = Draft(form.name or "new policy", form.text)
    context = editor_context(form, current_of(call, form.name)) | {"trial_draft": draft}
    errors: dict[str, str] = {}
    if not form.tool.strip():
        errors["tool"] = "tool: empty (expected the name of the tool the agent calls)"
    try:
        args = load_arguments(form.args)
    except ArgumentsError as error:
        errors["args"] = f'arguments: {error} (for example {{"namespace": "dev"}})'
    if errors or not draft.valid:
        context["trial_errors"] = errors
        return Page("policy_edit.html", context, block="trial", status=422)
    context["trial"] = try_call(draft, form.tool.strip(), args)
    return Page("policy_edit.html", context, block="trial")


def cases(call: PageCall) -> Page:
    """Golden cases (``policy test --cases``'s format) against the text as typed."""
    form = read_form(call)
    draft = Draft(form.name or "new policy", form.text)
    context = editor_context(form, current_of(call, form.name)) | {"cases_draft": draft}
    if not draft.valid:
        return Page("policy_edit.html", context, block="cases_results", status=422)
    ran = run_cases(draft, form.cases)
    context["cases_run"] = ran
    status = 422 if ran.problems else 200
    return Page("policy_edit.html", context, block="cases_results", status=status)


def save(call: PageCall) -> Page | Response:
    """Store the text as the next version, or show why not with the text kept as typed."""
    form = read_form(call)
    try:
        name = check_name(form.name, "policy name")
    except InvalidName as error:
        context = editor_context(form, None) | {"name_error": str(error)}
        return Page("policy_edit.html", context, status=422)
    current = current_of(call, name)
    draft = Draft(name, form.text)
    if not draft.valid:
        context = editor_context(form, current) | {"draft": draft}
        return Page("policy_edit.html", context, status=422)
    moved = conflict(name, form.base, current)
    if moved:
        started = form.base
        form = replace(form, base=current.version if current is not None else 0)
        context = editor_context(form, current) | {"conflict": moved, "started_from": started}
        return Page("policy_edit.html", context, status=409)
    result = call.control.set_policy(name, form.text, actor=call.visitor.actor)
    target = f"/policies/{quote(name)}/versions/{result.version.version}?saved=1"
    return RedirectResponse(target, status_code=303)


# -- helpers -----------------------------------------------------------------------------------


def read_form(call: PageCall) -> Form:
    """The submitted fields; a browser sends a textarea's lines ending in CRLF, stored as LF."""
    fields = call.form
    base = whole_number(fields.get("base", "0") or "0", "base version", 0, MAX_VERSION)
    return Form(
        name=fields.get("name", "").strip(),
        base=base,
        new=fields.get("new") == "1",
        text=lf(fields.get("text", "")),
        tool=fields.get("tool", ""),
        args=lf(fields.get("args", "{}")),
        cases=lf(fields.get("cases", "")),
    )


def lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def current_of(call: PageCall, name: str) -> PolicyVersion | None:
    """The stored current version of ``name``, None if there is none (or no valid name)."""
    if not name:
        return None
    try:
        return call.control.policy_version(check_name(name, "policy name"))
    except (NotFound, InvalidName):
        return None


def conflict(name: str, base: int, current: PolicyVersion | None) -> str:
    """Why saving over ``base`` would not do what the editor expects, or ``""``."""
    if current is None:
        if base == 0:
            return ""
        return (
            f'There is no policy "{name}" any more (you started from its version {base}). '
            "Nothing was saved. Save again to create it, as version 1."
        )
    if current.version == base:
        return ""
    if base == 0:
        return (
            f'A policy named "{name}" already exists, at version {current.version} (set by '
            f"{current.created_by}). Nothing was saved. Save again to store your text as its "
            f"version {current.version + 1}, or choose another name for a new policy."
        )
    return (
        f"Policy {name} changed while you were editing: version {current.version} was set by "
        f"{current.created_by} (you started from version {base}). Nothing was saved. Save "
        f"again to store your text as version {current.version + 1} over it."
    )


def status_of(draft: Draft) -> int:
    return 200 if draft.valid else 422


def editor_context(form: Form, current: PolicyVersion | None) -> dict[str, Any]:
    """Everything the editor template reads, each result empty until its button is used."""
    return {
        "form": form,
        "current": current,
        "started_from": current.version if current is not None else None,
        "unchanged": current is not None and current.text == form.text,
        "name_error": "",
        "conflict": "",
        "draft": None,
        "trial": None,
        "trial_draft": None,
        "trial_errors": {},
        "cases_run": None,
        "cases_draft": None,
        "render": render,
    }

"""The upstreams: what each is, how it is doing, what is bound to it, and its tools as it
lists them, marked by what each bound policy does to them.

Every viewer may look and may press "Check now": a check is a read (it spawns the upstream
the way an agent's first request would), and its cost is bounded whoever asks — one check of
an upstream at a time, a new one at most every ten seconds (a younger result is shown
instead), a few at once in all, and stdio processes counted against the gateway's own bound.
On-call viewers are who most need to know whether an upstream answers. Adding and removing
upstreams is for admins only, through the same control-plane operations as the CLI and API.

Env and header values never reach a page: listings show their keys, the form's value inputs
are write-only (``type=password``, never filled back), and a check's error is redacted.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from starlette.responses import RedirectResponse, Response

from mcpwall.control import upstreams as registry
from mcpwall.control.pinning import printable
from mcpwall.control.upstreams import (
    Binding,
    UpstreamInput,
    UpstreamInputError,
    describe_target,
    upstream_from,
)
from mcpwall.control.views import JSONObject, upstream_view
from mcpwall.core.errors import Conflict, PolicyError
from mcpwall.core.logquery import MAX_PAGE_SIZE, LogFilter
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.pins import Status, ToolStatus
from mcpwall.core.policy import CompiledPolicy, Limit
from mcpwall.core.policy.marks import Mark, ToolMarks, mark_tool, unlisted_named
from mcpwall.core.registry import Pinning, Upstream, UpstreamKind
from mcpwall.dashboard.pages import Page, PageCall
from mcpwall.dashboard.views.pins import pin_review
from mcpwall.gateway.probe import Probe, ProbedTool
from mcpwall.ports.logsink import LogReader

PINNING_MODES = tuple(mode.value for mode in Pinning)
PAIR_ROWS = 5  # env and header rows in the add form (more through the CLI or the API)
HEALTH_WINDOW = timedelta(hours=1)
FAILED_OUTCOMES = ("unreachable", "timeout", "protocol_error")
MARK_CLASS = {
    Mark.HIDDEN: "mark-hidden",
    Mark.RULES: "mark-rules",
    Mark.LIMITS: "mark-limits",
    Mark.ALLOWED: "mark-allowed",
    Mark.ALLOWED_BY_DEFAULT: "mark-allowed",
    Mark.DEFAULT_DENY: "mark-denied",
}


# -- what the pages show --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallHealth:
    """What the proxy log says of recent requests to an upstream: how many, and how many
    never got a usable answer, by outcome. ``capped``: only the newest rows were counted."""

    total: int
    failed: dict[str, int]
    capped: bool
    last_failure: datetime | None

    @property
    def failures(self) -> int:
        return sum(self.failed.values())


@dataclass(frozen=True, slots=True)
class Row:
    """One upstream in the list: its :func:`upstream_view` (secret values masked: pages never
    get the upstream itself), what it runs or reaches, and how it is doing."""

    view: JSONObject
    target: str
    bindings: list[Binding]
    probe: Probe | None
    calls: CallHealth

    @property
    def name(self) -> object:
        return self.view["name"]

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(binding.policy for binding in self.bindings))


@dataclass(frozen=True, slots=True)
class BoundPolicy:
    """A policy named by an active grant's binding of the upstream, compiled (or why not)."""

    name: str
    grants: list[Binding]
    compiled: CompiledPolicy | None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Cell:
    """What one policy does to one tool, ready to show."""

    marks: list[tuple[str, str]]  # (text, CSS class)
    limits: list[str]
    pointer: str


@dataclass(frozen=True, slots=True)
class ToolRow:
    """A tool: as the upstream lists it (``tool``), or only named by a policy (None)."""

    name: str
    tool: ProbedTool | None
    cells: list[Cell | None]  # one per bound policy; None where it could not be compiled
    pin: ToolStatus | None = None  # its pin status; None when unknown (no check, pinning off)


@dataclass
class AddForm:
    """The add form as last submitted: what it showed (never a secret value) and what was
    wrong, by field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


# -- views ----------------------------------------------------------------------------------


def index(call: PageCall) -> Page:
    """Every upstream, its health (last check, recent calls) and what is bound to it."""
    return _index_page(call, AddForm(values={"kind": UpstreamKind.STDIO.value}))


def add(call: PageCall) -> Page | Response:
    """Register an upstream (admin): the same operation as ``mcpwall upstream add``."""
    form = AddForm(values=_shown_values(call.form))
    try:
        upstream = upstream_from(_described(call.form))
        upstream = dataclasses.replace(upstream, pinning=_pinning(call.form))
        added = registry.add_upstream(call.control, upstream, actor=call.visitor.actor)
    except UpstreamInputError as error:
        form.errors[error.field] = str(error)
        return _index_page(call, form, status=422)
    except Conflict as error:
        form.errors["name"] = str(error)
        return _index_page(call, form, status=409)
    return RedirectResponse(f"/upstreams/{added.name}", status_code=303)


def show(call: PageCall) -> Page:
    """One upstream: its tools as it lists them, marked per bound policy (checked now if the
    last check is more than half a minute old)."""
    upstream = registry.get_upstream(call.control, call.params["name"])
    prober = call.services.prober
    probe = prober.check(upstream) if prober is not None else None
    return Page("upstream.html", _detail(call, upstream, probe), block="probe")


def check(call: PageCall) -> Page | Response:
    """Check the upstream now (any viewer; at most one new check every few seconds)."""
    upstream = registry.get_upstream(call.control, call.params["name"])
    prober = call.services.prober
    notice = ""
    probe = None
    if prober is not None:
        wait = prober.wait_before_refresh(upstream)
        probe = prober.check(upstream, refresh=True)
        if wait > 0:
            notice = (
                f"Checked {_seconds(call.now - probe.at)} ago; an upstream is checked at most "
                f"once every {_seconds(prober.min_interval)}, so this is that check "
                f"(a new one in {wait:.0f} s)."
            )
    if not call.partial:  # a plain form: back to the page, which shows the check
        return RedirectResponse(f"/upstreams/{upstream.name}", status_code=303)
    context = _detail(call, upstream, probe) | {"notice": notice}
    return Page("upstream.html", context, block="probe")


def remove(call: PageCall) -> Page | Response:
    """Remove the upstream (admin); refused, with the control plane's reason, while active
    grants are bound to it."""
    upstream = registry.get_upstream(call.control, call.params["name"])
    try:
        registry.remove_upstream(call.control, upstream.name, actor=call.visitor.actor)
    except Conflict as error:
        prober = call.services.prober
        probe = prober.last(upstream) if prober is not None else None  # no new check here
        context = _detail(call, upstream, probe) | {"remove_error": str(error)}
        return Page("upstream.html", context, status=409)
    if call.services.prober is not None:
        call.services.prober.forget(upstream.name)
    return RedirectResponse(f"/upstreams?removed={upstream.name}", status_code=303)


# -- the list -------------------------------------------------------------------------------


def _index_page(call: PageCall, form: AddForm, *, status: int = 200) -> Page:
    upstreams = registry.list_upstreams(call.control)
    bindings = registry.active_bindings(call.control)
    prober = call.services.prober
    if prober is not None:
        prober.keep_only({upstream.name for upstream in upstreams})
    rows = [
        Row(
            upstream_view(upstream),
            describe_target(upstream),
            bindings.get(upstream.name, []),
            prober.last(upstream) if prober is not None else None,
            call_health(call.services.proxy_log, upstream.name, call.now),
        )
        for upstream in upstreams
    ]
    removed = call.query.get("removed", "")
    names = {upstream.name for upstream in upstreams}
    if NAME_PATTERN.fullmatch(removed) is None or removed in names:
        removed = ""
    context = {
        "rows": rows,
        "form": form,
        "pair_rows": range(PAIR_ROWS),
        "removed": removed,
        "window_minutes": int(HEALTH_WINDOW.total_seconds() // 60),
        "row_limit": MAX_PAGE_SIZE,
    }
    return Page("upstreams.html", context, block="upstreams", status=status)


def call_health(reader: LogReader, upstream: str, now: datetime) -> CallHealth:
    """The outcomes of the newest requests to ``upstream`` in the last hour, counted here
    from at most :data:`MAX_PAGE_SIZE` rows (the log's filters have no outcome yet)."""
    rows = reader.read(LogFilter(since=now - HEALTH_WINDOW, upstream=upstream, limit=MAX_PAGE_SIZE))
    failed: Counter[str] = Counter(
        row.record.outcome for row in rows if row.record.outcome in FAILED_OUTCOMES
    )
    last_failure = max(
        (row.record.at for row in rows if row.record.outcome in FAILED_OUTCOMES), default=None
    )
    ordered = {outcome: failed[outcome] for outcome in FAILED_OUTCOMES if failed[outcome]}
    return CallHealth(len(rows), ordered, len(rows) >= MAX_PAGE_SIZE, last_failure)


def _described(form: Mapping[str, str]) -> UpstreamInput:
    """The upstream the add form describes."""
    kind = form.get("kind", "").strip()
    return UpstreamInput(
        name=form.get("name", "").strip(),
        kind=kind,
        command=_given(form, "command"),
        cwd=_given(form, "cwd"),
        env=_pairs(form, "env"),
        url=_given(form, "url"),
        headers=_pairs(form, "header"),
    )


def _pinning(form: Mapping[str, str]) -> Pinning:
    """The add form's pinning mode (``enforce`` when absent)."""
    value = form.get("pinning", "").strip() or Pinning.ENFORCE.value
    if value not in PINNING_MODES:
        modes = ", ".join(PINNING_MODES)
        raise UpstreamInputError(
            "pinning", f'Tool-definition pinning "{value}": expected one of {modes}'
        )
    return Pinning(value)


def _given(form: Mapping[str, str], key: str) -> str | None:
    value = form.get(key, "").strip()
    return value or None


def _pairs(form: Mapping[str, str], prefix: str) -> list[tuple[str, str]]:
    field_name = "env" if prefix == "env" else "headers"
    label = "Environment" if prefix == "env" else "Headers"
    pairs: list[tuple[str, str]] = []
    for index in range(PAIR_ROWS):
        key = form.get(f"{prefix}_key_{index}", "").strip()
        value = form.get(f"{prefix}_value_{index}", "")
        if not key and not value:
            continue
        if not key:
            raise UpstreamInputError(
                field_name,
                f"{label} row {index + 1}: a value without a name (expected a name, "
                "and a value if it has one)",
            )
        pairs.append((key, value))
    return pairs


def _shown_values(form: Mapping[str, str]) -> dict[str, str]:
    """What the form shows again after a refusal: everything but env and header values."""
    return {
        key: value
        for key, value in form.items()
        if key != "csrf_token" and not key.startswith(("env_value_", "header_value_"))
    }


# -- one upstream -----------------------------------------------------------------------------


def _detail(call: PageCall, upstream: Upstream, probe: Probe | None) -> dict[str, object]:
    bindings = registry.active_bindings(call.control).get(upstream.name, [])
    policies = _bound_policies(call, bindings)
    compiled = [policy.compiled for policy in policies if policy.compiled is not None]
    listed = probe.tool_names if probe is not None and probe.reachable else []
    by_name = {tool.name: tool for tool in probe.tools} if probe is not None else {}
    review, pin_error = pin_review(call, upstream, probe)
    pin_of = {item.name: item.status for item in review.tools} if review is not None else {}
    rows = [
        ToolRow(name, by_name.get(name), _cells(policies, name, listed=True), pin_of.get(name))
        for name in listed
    ]
    rows += [
        ToolRow(name, None, _cells(policies, name, listed=False))
        for name in unlisted_named(compiled, listed)
    ]
    return {
        "upstream": upstream_view(upstream),  # secret values masked: never the upstream itself
        "target": describe_target(upstream),
        "bindings": bindings,
        "policies": policies,
        "probe": probe,
        "tool_rows": rows,
        "calls": call_health(call.services.proxy_log, upstream.name, call.now),
        "window_minutes": int(HEALTH_WINDOW.total_seconds() // 60),
        "can_check": call.services.prober is not None,
        "pins": review,
        "removed_pins": [
            item.status
            for item in (review.tools if review is not None else ())
            if item.status.status is Status.REMOVED
        ],
        "pin_error": pin_error,
        "accepted": _accepted_notice(call),
        "notice": "",
        "remove_error": "",
    }


def _accepted_notice(call: PageCall) -> str:
    """What the redirect after an acceptance says (a tool name, shown escaped)."""
    if call.query.get("accepted"):
        return f"Accepted the live definition of {printable(call.query['accepted'])}."
    if call.query.get("unchanged"):
        return f"{printable(call.query['unchanged'])} was already pinned as listed."
    return ""


def _bound_policies(call: PageCall, bindings: list[Binding]) -> list[BoundPolicy]:
    grants: dict[str, list[Binding]] = {}
    for binding in bindings:
        grants.setdefault(binding.policy, []).append(binding)
    found = []
    for name, using in sorted(grants.items()):
        try:
            found.append(BoundPolicy(name, using, call.control.compiled_policy(name)))
        except PolicyError as error:  # stored when valid; a stricter compiler may refuse it
            found.append(BoundPolicy(name, using, None, str(error)))
    return found


def _cells(policies: list[BoundPolicy], tool: str, *, listed: bool) -> list[Cell | None]:
    cells: list[Cell | None] = []
    for policy in policies:
        if policy.compiled is None:
            cells.append(None)
            continue
        marked: ToolMarks = mark_tool(policy.compiled, tool, listed=listed)
        marks = [(mark.value, MARK_CLASS[mark]) for mark in marked.marks]
        cells.append(Cell(marks, [_limit(limit) for limit in marked.limits], marked.pointer))
    return cells


def _limit(limit: Limit) -> str:
    return f"{limit.counter}: {limit.max} per {limit.window}, per {limit.scope}"


def _seconds(span: timedelta) -> str:
    return f"{max(0, int(span.total_seconds()))} s"

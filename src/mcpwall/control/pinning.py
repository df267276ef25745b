"""Reviewing and accepting tool-definition pins, as the CLI, the admin API and the dashboard do.

Each operation takes an upstream's *live* definitions (:class:`~mcpwall.gateway.probe.
Definitions`, listed by the surface through the gateway's own connector) and compares them
with its stored pins (:mod:`mcpwall.core.pins`):

- :func:`review`: every tool's status (``pinned``, ``changed``, ``new``, ``suspicious``,
  ``removed``), its findings and hashes, and the status of the server's instructions.
- :func:`tool_diff`: one tool, field by field, with the live hash a reviewer passes back as
  ``expect``.
- :func:`accept`: pin the live definitions of the tools named (or of every tool that
  differs), in one store change, so one audit event naming the actor.
- :func:`pin_new_upstream`: what ``upstream add`` and ``apply -f`` pin for an upstream they
  add: every tool but the suspicious ones, and the instructions.

Choices, said once here and in ``docs/pinning.md``:

- ``all`` accepts every ``changed`` and ``new`` tool and new or changed instructions, and
  drops the pins of ``removed`` tools: after it, the pins are the server's listing as it is
  now, so a tool that comes back later is ``new`` and reviewed again. It never accepts a
  ``suspicious`` tool or suspicious instructions: those are accepted only when named, and the
  answer lists what was left out. When the listing had more pages than the gateway reads, no
  pin is dropped (an unread page is not a removal). Pins and removals are two store changes,
  so two audit events (``upstream.pin``, ``upstream.unpin``), both naming the actor.
- A tool listed twice is never pinned: which definition would the agent read?
- ``expect`` is the live hash the reviewer saw; it goes with exactly one tool, and a live
  hash that differs now (the tool changed again after the review) is a :class:`Conflict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mcpwall.control import ControlPlane
from mcpwall.control.views import JSONObject
from mcpwall.core.errors import Conflict, InvalidValue, NotFound, PinUnreadable
from mcpwall.core.pins import (
    DUPLICATE_NAME,
    UNSET,
    FieldDiff,
    InstructionsArg,
    Pins,
    Status,
    ToolStatus,
    code_point,
    diff,
    instructions_hash,
    render_diff,
    statuses,
    suspicious_code_points,
    visible,
)
from mcpwall.core.registry import Pinning, Upstream
from mcpwall.gateway.probe import Definitions

SHORT_DESCRIPTION = 80  # characters of a description a listing shows
INSTRUCTIONS = "instructions"


@dataclass(frozen=True, slots=True)
class InstructionsReview:
    """The server's instructions against their pin: ``pinned`` (identical), ``suspicious``
    (hidden characters, not identical), ``new`` (never pinned) or ``changed``."""

    status: Status
    live_hash: str
    pinned_hash: str | None
    findings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolReview:
    """One tool's status, with a short description of the live definition for listings."""

    status: ToolStatus
    description: str = ""

    @property
    def name(self) -> str:
        return self.status.name


@dataclass(frozen=True, slots=True)
class Review:
    """An upstream's live definitions against its pins."""

    upstream: str
    pinning: Pinning
    tools: tuple[ToolReview, ...]
    instructions: InstructionsReview
    complete: bool
    unnamed: int = 0

    @property
    def differing(self) -> list[ToolReview]:
        """The tools whose status is anything but ``pinned``."""
        return [tool for tool in self.tools if tool.status.status is not Status.PINNED]

    def tool(self, name: str) -> ToolReview | None:
        return next((tool for tool in self.tools if tool.name == name), None)


@dataclass(frozen=True, slots=True)
class ToolDiff:
    """One tool's pinned and live definitions and what differs between them, field by field.
    ``lines`` is the diff as text for people (hidden characters shown as ``<U+XXXX>``)."""

    upstream: str
    status: ToolStatus
    fields: tuple[FieldDiff, ...]
    lines: tuple[str, ...]
    pinned: Mapping[str, object] | None
    live: Mapping[str, object] | None


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an acceptance did: tools pinned (name → hash), pins dropped, whether the
    instructions were pinned, and what it left out and why (name → reason)."""

    upstream: str
    pinned: dict[str, str] = field(default_factory=dict)
    unpinned: tuple[str, ...] = ()
    instructions: bool = False
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.pinned or self.unpinned or self.instructions)


# -- review ---------------------------------------------------------------------------------


def stored_pins(control: ControlPlane, upstream: str) -> Pins:
    """The upstream's pins; :class:`PinUnreadable` as the store raises it (fail closed)."""
    return control.store.get_pins(upstream)


def review(control: ControlPlane, upstream: Upstream, live: Definitions) -> Review:
    """``upstream``'s live definitions against its stored pins."""
    pins = stored_pins(control, upstream.name)
    return review_pins(upstream, pins, live)


def review_pins(upstream: Upstream, pins: Pins, live: Definitions) -> Review:
    """:func:`review` over pins already read."""
    found = statuses(pins.definitions(), live.tools)
    if not live.complete:
        # A tool on a page the gateway does not read is not known to be gone.
        found = [item for item in found if item.status is not Status.REMOVED]
    descriptions = {
        str(tool["name"]): short_description(tool.get("description")) for tool in live.tools
    }
    tools = tuple(ToolReview(item, descriptions.get(item.name, "")) for item in found)
    return Review(
        upstream.name,
        upstream.pinning,
        tools,
        instructions_review(pins, live.instructions),
        live.complete,
        live.unnamed,
    )


def instructions_review(pins: Pins, text: str | None) -> InstructionsReview:
    """The live instructions against their pin, with :func:`tool statuses
    <mcpwall.core.pins.statuses>`' precedence."""
    live_hash = instructions_hash(text)
    pinned_hash = pins.instructions.hash if pins.instructions is not None else None
    codes = suspicious_code_points(text or "")
    findings = (f"/{INSTRUCTIONS}: {', '.join(code_point(c) for c in codes)}",) if codes else ()
    if live_hash == pinned_hash:
        status = Status.PINNED
    elif findings:
        status = Status.SUSPICIOUS
    elif pinned_hash is None:
        status = Status.NEW
    else:
        status = Status.CHANGED
    return InstructionsReview(status, live_hash, pinned_hash, findings)


def short_description(value: object) -> str:
    """A description's first line, at most :data:`SHORT_DESCRIPTION` characters, with hidden
    and control characters shown as ``<U+XXXX>`` (:func:`printable`)."""
    if not isinstance(value, str):
        return ""
    first = value.strip().split("\n", 1)[0]
    if len(first) > SHORT_DESCRIPTION:
        first = first[: SHORT_DESCRIPTION - 1] + "…"
    return printable(first)


def tool_diff(control: ControlPlane, upstream: Upstream, live: Definitions, name: str) -> ToolDiff:
    """Tool ``name`` of ``upstream``: its pinned and live definitions and their diff;
    :class:`NotFound` when it is neither listed nor pinned."""
    pins = stored_pins(control, upstream.name)
    found = next(
        (item for item in statuses(pins.definitions(), live.tools) if item.name == name), None
    )
    if found is None:
        raise NotFound("tool", name, where=f'upstream "{upstream.name}"', hint=_LISTED_HINT)
    listed = [tool for tool in live.tools if tool.get("name") == name]
    current = listed[0] if len(listed) == 1 else None
    pin = pins.tools.get(name)
    pinned = pin.tool if pin is not None else None
    fields = diff(pinned or {}, current or {})
    return ToolDiff(
        upstream.name, found, tuple(fields), tuple(render_diff(fields)), pinned, current
    )


_LISTED_HINT = "the upstream does not list it now and it has no pin"


# -- accept ---------------------------------------------------------------------------------


def accept(
    control: ControlPlane,
    upstream: Upstream,
    live: Definitions,
    *,
    tools: Sequence[str] = (),
    every: bool = False,
    instructions: bool = False,
    expect: str | None = None,
    actor: str,
) -> Accepted:
    """Pin the live definitions of ``tools`` (or, with ``every``, of every tool that differs;
    see the module's docstring for what that leaves out) and, with ``instructions`` or
    ``every``, the live instructions. A named tool that is ``removed`` has its pin dropped.

    :class:`InvalidValue` for a request that can't be read (nothing named, names with
    ``every``, ``expect`` without exactly one tool, a tool neither listed nor pinned, one
    listed twice); :class:`Conflict` when ``expect`` is not the tool's live hash now.
    """
    _check_request(upstream, tools, every=every, instructions=instructions, expect=expect)
    try:
        pins = stored_pins(control, upstream.name)
    except PinUnreadable:
        if every:
            raise  # which pins differ can't be told: accept the unreadable ones by name
        pins = Pins(upstream.name)  # pinning the named tools again is how a pin is repaired
    current = review_pins(upstream, pins, live)
    plan = _plan(current, tools, every=every, expect=expect)
    text: InstructionsArg = UNSET
    standing = current.instructions.status
    if instructions and standing is Status.PINNED:
        plan.skipped[INSTRUCTIONS] = "already pinned as sent"
    elif instructions or (every and standing in (Status.NEW, Status.CHANGED)):
        text = live.instructions
        plan.instructions = True
    elif every and standing is Status.SUSPICIOUS:
        plan.skipped[INSTRUCTIONS] = "suspicious: accepted only when named"
    definitions = [tool for tool in live.tools if tool.get("name") in plan.pin]
    if definitions or text is not UNSET:
        after = control.store.pin_tools(upstream.name, definitions, instructions=text, actor=actor)
        plan.pinned = {name: after.tools[name].hash for name in plan.pin if name in after.tools}
    if plan.unpin:
        control.store.unpin_tools(upstream.name, plan.unpin, actor=actor)
    return Accepted(upstream.name, plan.pinned, tuple(plan.unpin), plan.instructions, plan.skipped)


@dataclass
class _Plan:
    pin: list[str] = field(default_factory=list)
    unpin: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    pinned: dict[str, str] = field(default_factory=dict)
    instructions: bool = False


def _check_request(
    upstream: Upstream,
    tools: Sequence[str],
    *,
    every: bool,
    instructions: bool,
    expect: str | None,
) -> None:
    where = f'accepting tools of upstream "{upstream.name}"'
    if every and tools:
        raise InvalidValue(where, "tool names and all", "either tool names or all, not both")
    if not every and not tools and not instructions:
        raise InvalidValue(where, "nothing named", "tool names, all, or the instructions")
    if expect is not None and (every or len(tools) != 1):
        raise InvalidValue(
            f"{where}: expect", "a hash for more than one tool", "exactly one tool named"
        )


def _plan(current: Review, names: Sequence[str], *, every: bool, expect: str | None) -> _Plan:
    plan = _Plan()
    if every:
        for differing in current.differing:
            item = differing.status
            if item.status is Status.SUSPICIOUS:
                plan.skipped[item.name] = "suspicious: accepted only when named"
            elif item.status is Status.REMOVED:
                plan.unpin.append(item.name)
            else:
                plan.pin.append(item.name)
        return plan
    for name in dict.fromkeys(names):
        found = current.tool(name)
        if found is None:
            raise InvalidValue(
                f'upstream "{current.upstream}" tool "{printable(name)}"',
                "neither listed now nor pinned",
                "a tool the upstream lists (see mcpwall upstream tools)",
            )
        item = found.status
        if DUPLICATE_NAME in item.findings:
            raise Conflict(
                f'upstream "{current.upstream}" lists tool "{printable(name)}" more than once: '
                "it can't be pinned (which definition would the agent read?)"
            )
        if expect is not None:
            _check_expected(current.upstream, item, expect)
        if item.status is Status.REMOVED:
            plan.unpin.append(name)
        elif item.status is Status.PINNED:
            plan.skipped[name] = "already pinned as listed"
        else:
            plan.pin.append(name)
    return plan


def _check_expected(upstream: str, item: ToolStatus, expect: str) -> None:
    if item.live_hash is None:
        raise InvalidValue(
            f'upstream "{upstream}" tool "{printable(item.name)}" expect',
            "a tool the upstream no longer lists",
            "a listed tool (accept a removal without expect)",
        )
    if item.live_hash != expect.strip():
        raise Conflict(
            f'upstream "{upstream}" tool "{printable(item.name)}" changed again after the '
            f"review: its live definition's hash is now {item.live_hash} (expected "
            f"{_shown_hash(expect)}); review it again before accepting"
        )


def _shown_hash(text: str) -> str:
    # What a person typed, shown back only if it looks like a hash (never arbitrary text).
    shown = text.strip()
    if len(shown) <= 80 and all(c.isalnum() or c == ":" for c in shown):
        return shown
    return "(not a hash)"


# -- at add time ----------------------------------------------------------------------------


def pin_new_upstream(
    control: ControlPlane, upstream: Upstream, live: Definitions, *, actor: str
) -> Accepted:
    """Pin what an upstream just added lists (``upstream add``, ``apply -f``): every tool
    but the suspicious ones and any listed twice, and the instructions unless suspicious.
    What is left out stays withheld (under ``enforce``) until accepted. Nothing is pinned
    for an upstream whose pinning is ``off``."""
    if upstream.pinning is Pinning.OFF:
        return Accepted(upstream.name)
    current = review_pins(upstream, Pins(upstream.name), live)
    plan = _Plan()
    for tool in current.tools:
        if tool.status.status is Status.SUSPICIOUS:
            plan.skipped[tool.name] = "suspicious: " + "; ".join(tool.status.findings)
        else:
            plan.pin.append(tool.name)
    text: InstructionsArg = UNSET
    if current.instructions.status is Status.SUSPICIOUS:
        plan.skipped[INSTRUCTIONS] = "suspicious: " + "; ".join(current.instructions.findings)
    else:
        text = live.instructions
    definitions = [tool for tool in live.tools if tool.get("name") in plan.pin]
    after = control.store.pin_tools(upstream.name, definitions, instructions=text, actor=actor)
    pinned = {name: after.tools[name].hash for name in plan.pin if name in after.tools}
    return Accepted(upstream.name, pinned, (), text is not UNSET, plan.skipped)


# -- showing it -----------------------------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with hidden characters (:func:`~mcpwall.core.pins.visible`) and control
    characters (escape sequences a terminal would act on) written as ``<U+XXXX>``."""
    shown = visible(text)
    if all(ch.isprintable() or ch == " " for ch in shown):
        return shown
    return "".join(
        ch if ch.isprintable() or ch == " " else f"<{code_point(ord(ch))}>" for ch in shown
    )


def _status_view(item: ToolStatus) -> JSONObject:
    return {
        "name": item.name,
        "status": item.status.value,
        "live_hash": item.live_hash,
        "pinned_hash": item.pinned_hash,
        "findings": list(item.findings),
    }


def instructions_view(instructions: InstructionsReview) -> JSONObject:
    return {
        "status": instructions.status.value,
        "live_hash": instructions.live_hash,
        "pinned_hash": instructions.pinned_hash,
        "findings": list(instructions.findings),
    }


def review_view(current: Review) -> JSONObject:
    """A review as ``upstream tools --json`` and ``GET /api/upstreams/{name}/tools`` show it."""
    return {
        "upstream": current.upstream,
        "pinning": current.pinning.value,
        "complete": current.complete,
        "tools": [
            _status_view(tool.status) | {"description": tool.description} for tool in current.tools
        ],
        "instructions": instructions_view(current.instructions),
    }


def diff_view(found: ToolDiff) -> JSONObject:
    """A tool's diff as ``--diff --json`` and the API show it: the status and hashes, the
    changes field by field, the diff as text lines, and both definitions whole."""
    fields: list[JSONObject] = []
    for item in found.fields:
        entry: JSONObject = {"field": item.field, "change": item.change.value}
        if item.text_diff:
            entry["text_diff"] = list(item.text_diff)
        if item.changes:
            entry["changes"] = [
                {"pointer": c.pointer, "change": c.change.value, "old": c.old, "new": c.new}
                for c in item.changes
            ]
        fields.append(entry)
    return {
        "upstream": found.upstream,
        **_status_view(found.status),
        "fields": fields,
        "lines": list(found.lines),
        "pinned": dict(found.pinned) if found.pinned is not None else None,
        "live": dict(found.live) if found.live is not None else None,
    }


def accepted_view(done: Accepted) -> JSONObject:
    """What an acceptance did, as the API answers it."""
    return {
        "upstream": done.upstream,
        "pinned": dict(done.pinned),
        "unpinned": list(done.unpinned),
        "instructions": done.instructions,
        "skipped": dict(done.skipped),
    }

"""Tool-definition pins on the Upstreams pages: a tool's diff, and accepting it (admins).

Every viewer sees each tool's pin status and its diff: reviewing is reading. Accepting is an
admin's, through the same control-plane operation as ``mcpwall upstream accept`` and the
API, behind a confirmation page that names the live hash it will pin; the acceptance sends
that hash back as ``expect``, so a tool that changed again since the page was shown is
refused (409) rather than pinned unseen. Other roles are never offered the action, and the
route refuses them (403).

Text from an upstream reaches the page only through the template's autoescaping, with hidden
and control characters written as ``<U+XXXX>`` (:func:`~mcpwall.control.pinning.printable`).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from mcpwall.control import pinning, upstreams as registry
from mcpwall.control.views import upstream_view
from mcpwall.core.errors import Conflict, InvalidValue, PinUnreadable, UpstreamUnavailable
from mcpwall.core.pins import Status
from mcpwall.core.registry import Upstream
from mcpwall.dashboard.pages import Page, PageCall
from mcpwall.gateway.probe import Definitions, Probe

REMOVED = "removed"  # what the confirmation sends as expect for a tool no longer listed


def pin_review(
    call: PageCall, upstream: Upstream, probe: Probe | None
) -> tuple[pinning.Review | None, str]:
    """The pin review of ``upstream`` from its last check (None when there is none), and why
    the pins can't be read, if they can't."""
    if probe is None or probe.definitions is None:
        return None, ""
    try:
        pins = pinning.stored_pins(call.control, upstream.name)
    except PinUnreadable as error:
        return None, str(error)
    return pinning.review_pins(upstream, pins, probe.definitions), ""


def _live(call: PageCall, upstream: Upstream) -> Definitions:
    prober = call.services.prober
    if prober is None:
        raise UpstreamUnavailable(upstream.name, "this dashboard has no upstream checker")
    found = prober.check_now(upstream)
    if found.definitions is None:
        raise UpstreamUnavailable(upstream.name, found.error)
    return found.definitions


def _diff_context(call: PageCall) -> dict[str, object]:
    # A new check: a review, and the hash a confirmation sends back, must be of what the
    # upstream sends now (checks stay bounded: one per upstream at a time, a few at once).
    upstream = registry.get_upstream(call.control, call.params["name"])
    live = _live(call, upstream)
    found = pinning.tool_diff(call.control, upstream, live, call.params["tool"])
    return {
        "upstream": upstream_view(upstream),  # secret values masked: never the upstream itself
        "tool": found,
        "name": pinning.printable(found.status.name),
        "lines": [pinning.printable(line) for line in found.lines],
        "findings": [pinning.printable(item) for item in found.status.findings],
        "acceptable": found.status.status is not Status.PINNED,
        "error": "",
    }


def diff(call: PageCall) -> Page:
    """One tool: its pin status, findings, and what differs from its pin, field by field."""
    return Page("upstream_tool.html", _diff_context(call))


def confirm_accept(call: PageCall) -> Page:
    """What accepting the tool would pin, and the button that does it (admins)."""
    return Page("upstream_accept.html", _diff_context(call))


def accept(call: PageCall) -> Page | Response:
    """Pin the tool's live definition if its hash is still the one the confirmation showed."""
    upstream = registry.get_upstream(call.control, call.params["name"])
    tool = call.params["tool"]
    expect = call.form.get("expect", "")
    try:
        live = _live(call, upstream)
        if expect == REMOVED:
            # Dropping a pin: only while the tool is still not listed.
            if any(item.get("name") == tool for item in live.tools):
                raise Conflict(f'tool "{pinning.printable(tool)}" is listed again: review it')
        elif not expect:
            raise InvalidValue("the acceptance form's expect", "nothing", "the hash it showed")
        done = pinning.accept(
            call.control,
            upstream,
            live,
            tools=[tool],
            expect=None if expect == REMOVED else expect,
            actor=call.visitor.actor,
        )
    except (Conflict, InvalidValue) as error:
        context = _diff_context(call) | {"error": str(error)}
        return Page("upstream_accept.html", context, status=409)
    prober = call.services.prober
    if prober is not None:
        prober.forget(upstream.name)  # the page after shows a check made after the change
    what = "accepted" if done.changed else "unchanged"
    return RedirectResponse(f"/upstreams/{upstream.name}?{what}={_quoted(tool)}", status_code=303)


def _quoted(text: str) -> str:
    return quote(text, safe="")

"""The audit trail: who changed what, and when, newest first, a page at a time."""

from __future__ import annotations

from mcpwall.core.queryvalues import whole_number
from mcpwall.dashboard.pages import Page, PageCall

PAGE_SIZE = 50


def show(call: PageCall) -> Page:
    before_text = call.query.get("before")
    before = None if before_text is None else whole_number(before_text, "before", 1, 2**63 - 1)
    events = call.control.audit_page(limit=PAGE_SIZE + 1, before=before)
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    context = {"events": events, "older": events[-1].id if more else None}
    return Page("audit.html", context, block="events")

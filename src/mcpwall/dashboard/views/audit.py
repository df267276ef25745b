"""The audit trail: who changed what, and when, newest first, a page at a time, filtered on
who, what and which object (every filter in the URL; each value in a row filters on itself)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from mcpwall.core.audit import ACTION_CHOICES, FILTER_FIELDS, OBJECT_KINDS, AuditFilter
from mcpwall.core.errors import InvalidValue
from mcpwall.core.queryvalues import MAX_ROW_ID, whole_number
from mcpwall.dashboard.pages import Page, PageCall

PAGE_SIZE = 50


def show(call: PageCall) -> Page:
    values = {name: call.query.get(name, "") for name in FILTER_FIELDS}
    context: dict[str, Any] = {
        "values": values, "actions": ACTION_CHOICES, "kinds": OBJECT_KINDS, "error": "",
        "events": [], "older": None, "link": lambda **more: link(values, **more),
    }  # fmt: skip
    try:
        only = AuditFilter.of(call.query, blank_is_any=True)
        before_text = call.query.get("before")
        before = None if before_text is None else whole_number(before_text, "before", 1, MAX_ROW_ID)
    except InvalidValue as error:
        context["error"] = str(error)
        return Page("audit.html", context, block="events", status=422)
    events = call.control.audit_page(limit=PAGE_SIZE + 1, before=before, only=only)
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    context |= {"events": events, "older": events[-1].id if more else None}
    return Page("audit.html", context, block="events")


def link(values: dict[str, str], **more: str | int) -> str:
    """``/audit`` with the current filters, changed by ``more``."""
    query = {name: value for name, value in values.items() if value}
    query |= {name: str(value) for name, value in more.items()}
    return "/audit" + (f"?{urlencode(query)}" if query else "")

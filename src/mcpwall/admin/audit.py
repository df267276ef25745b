"""``/api/audit``: the admin audit trail, newest first, a page at a time, filtered on who
(``actor``), what (``action``: one, or a kind such as ``grant``) and which object.

``before`` is the ``next_before`` of the previous page: events with smaller ids.
"""

from __future__ import annotations

from mcpwall.admin.endpoint import Call, Reply
from mcpwall.control.views import audit_event_view
from mcpwall.core.audit import FILTER_FIELDS, MAX_PAGE_SIZE, AuditFilter
from mcpwall.core.queryvalues import whole_number

DEFAULT_PAGE_SIZE = 100
MAX_EVENT_ID = 2**63 - 1
QUERY = frozenset({"limit", "before", *FILTER_FIELDS})


def list_audit(call: Call) -> Reply:
    limit = whole_number(call.query.get("limit", str(DEFAULT_PAGE_SIZE)), "limit", 1, MAX_PAGE_SIZE)
    before = call.query.get("before")
    cursor = None if before is None else whole_number(before, "before", 1, MAX_EVENT_ID)
    events = call.control.audit_page(limit=limit, before=cursor, only=AuditFilter.of(call.query))
    next_before = events[-1].id if len(events) == limit else None
    return Reply({"events": [audit_event_view(e) for e in events], "next_before": next_before})

"""The live tail: the proxy log's newest rows, and new ones as they are written.

``GET /tail`` is the page: the filters (the same as the log's, in the URL), the newest rows,
and the stream. ``GET /tail/events`` is the stream itself (server-sent events, see
``dashboard/tail.py``). ``GET /tail/stream`` renders the part of the page that holds the
stream, live or paused: pausing swaps in a copy without the stream (htmx closes it), resuming
swaps in one that starts after the last row shown, so the rows written meanwhile arrive then.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.responses import Response, StreamingResponse

from mcpwall.core.logquery import LogFilter, StoredRecord
from mcpwall.core.queryvalues import MAX_ROW_ID, whole_number
from mcpwall.dashboard.logfilters import LogView
from mcpwall.dashboard.pages import Page, PageCall
from mcpwall.dashboard.render import ENVIRONMENT

SHOWN = 25


def show(call: PageCall) -> Page:
    """``GET /tail``: the page, live."""
    view = LogView.from_query(call.query)
    return Page("tail.html", _context(call, view, paused=False), block="tail")


def stream_part(call: PageCall) -> Page:
    """``GET /tail/stream?paused=1&after=N``: the stream's part of the page, paused or live."""
    view = LogView.from_query(call.query)
    paused = call.query.get("paused") == "1"
    after_text = call.query.get("after")
    after = None if not after_text else whole_number(after_text, "after", 0, MAX_ROW_ID)
    return Page("tail.html", _context(call, view, paused=paused, upto=after), block="tail")


def events(call: PageCall) -> Response:
    """``GET /tail/events?after=N``: new rows as server-sent events."""
    view = LogView.from_query(call.query)
    # A browser reconnecting by itself says where it was; that beats the URL it started with.
    resume = call.headers.get("last-event-id") or call.query.get("after") or "0"
    after = whole_number(resume, "after", 0, MAX_ROW_ID)
    tails = call.services.tails
    if tails.full:
        return Response("too many live tails are open; close one", status_code=503)
    query = view.log_filter(call.now, after=after, limit=1)
    row_macro = ENVIRONMENT.get_template("_log.html").module.row  # type: ignore[attr-defined]

    def render(row: StoredRecord) -> str:
        return str(row_macro(row))

    control, secret = call.control, call.visitor.secret
    stream = tails.stream(
        call.services.proxy_log, query, render, lambda: control.logged_in(secret) is not None
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


def _context(
    call: PageCall, view: LogView, *, paused: bool, upto: int | None = None
) -> dict[str, Any]:
    """The newest rows (up to row ``upto`` when given) and the id the stream starts after."""
    query = view.log_filter(call.now, limit=SHOWN)
    if upto is not None:
        query = replace(query, before=upto + 1)
    rows = call.services.proxy_log.read(query)
    newest = rows[0].id if rows else _newest_id(call, upto)
    return {
        "view": view,
        "rows": rows,
        "after": newest,
        "paused": paused,
    }


def _newest_id(call: PageCall, upto: int | None) -> int:
    """Where the stream starts when no row matches: after the newest row of all."""
    if upto is not None:
        return upto
    newest = call.services.proxy_log.read(LogFilter(limit=1))
    return newest[0].id if newest else 0

"""The proxy log: filtered rows a page at a time, one row in full, and an export.

Rows come newest first; "older" pages go back by row id (a cursor, so rows written meanwhile
neither repeat nor hide rows). The export streams exactly the filtered rows, in pages read
off the event loop, so an export of millions of rows holds one page in memory at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from mcpwall.core.errors import InvalidValue, NotFound
from mcpwall.core.logquery import MAX_PAGE_SIZE, LogFilter, StoredRecord, record_json
from mcpwall.core.queryvalues import MAX_ROW_ID, whole_number
from mcpwall.dashboard.logfilters import LogView
from mcpwall.dashboard.pages import Page, PageCall
from mcpwall.ports.logsink import LogReader

PAGE_SIZE = 50
EXPORT_FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = (
    "id", "at", "request_id", "grant_id", "grant_label", "upstream", "method", "tool", "policy",
    "policy_version", "decision", "rule", "message", "argument_keys", "outcome", "decision_ms",
    "upstream_ms", "total_ms", "fail_open", "pin",
)  # fmt: skip


# What each rule that is not a pointer means (docs/proxy-log.md says the same).
RULE_MEANINGS = {
    "(hidden)": "the policy hides this tool: agents can neither list nor call it",
    "(default deny)": "the policy's default is deny and no entry allows this tool",
    "(no policy)": "no policy applied",
    "(allowed)": "the policy allows this tool and nothing refused the call",
    "(unknown tool)": "the upstream does not offer a tool of that name",
    "(header mismatch)": "the request's Mcp-Param-* or routing headers disagreed with its body",
    "(bad request)": "the request was refused as malformed before any decision",
    "(no binding)": "the grant is not bound to that upstream",
    "(over capacity)": "the grant or the gateway held as much open as it may",
}


def list_rows(call: PageCall) -> Page:
    """``GET /logs``: the filter form and a page of matching rows."""
    context: dict[str, Any] = {"error": ""}
    try:
        view = LogView.from_query(call.query)
        before_text = call.query.get("before")
        before = None if before_text is None else whole_number(before_text, "before", 1, MAX_ROW_ID)
    except InvalidValue as error:
        context |= {"view": LogView(), "rows": [], "older": None, "before": None}
        context["error"] = str(error)
        return Page("logs.html", context, block="results", status=422)
    query = view.log_filter(call.now, before=before, limit=PAGE_SIZE + 1)
    rows = call.services.proxy_log.read(query)
    older = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    context |= {"view": view, "rows": rows[:PAGE_SIZE], "older": older, "before": before}
    return Page("logs.html", context, block="results")


def show_row(call: PageCall) -> Page:
    """``GET /logs/{id}``: one row in full, its rule shown as the policy text it points at."""
    row_id = whole_number(call.params["id"], "row id", 1, MAX_ROW_ID)
    found = call.services.proxy_log.read(LogFilter(before=row_id + 1, limit=1))
    if not found or found[0].id != row_id:
        raise NotFound("proxy-log row", str(row_id))
    record = found[0].record
    source = call.control.rule_source(record.policy, record.policy_version, record.rule)
    context = {
        "row": found[0],
        "record": record,
        "rule_source": source,
        "rule_meanings": RULE_MEANINGS,
    }
    return Page("log_row.html", context)


def export(call: PageCall) -> StreamingResponse:
    """``GET /logs/export``: every row the filters match, as JSON lines or CSV, streamed."""
    view = LogView.from_query(call.query)
    kind = call.query.get("format", "jsonl")
    if kind not in EXPORT_FORMATS:
        raise InvalidValue("format", kind, "jsonl or csv")
    query = view.log_filter(call.now, limit=MAX_PAGE_SIZE)
    lines = (
        _jsonl(query, call.services.proxy_log)
        if kind == "jsonl"
        else _csv(query, call.services.proxy_log)
    )
    stamp = call.now.strftime("%Y%m%dT%H%M%SZ")
    disposition = f'attachment; filename="mcpwall-proxy-log-{stamp}.{kind}"'
    return StreamingResponse(
        lines, media_type=EXPORT_FORMATS[kind], headers={"Content-Disposition": disposition}
    )


async def _pages(query: LogFilter, reader: LogReader) -> AsyncIterator[list[StoredRecord]]:
    """The rows ``query`` matches, newest first, a page at a time, each read off the loop."""
    while True:
        rows = await run_in_threadpool(reader.read, query)
        if rows:
            yield rows
        if len(rows) < query.limit:
            return
        query = replace(query, before=rows[-1].id)


async def _jsonl(query: LogFilter, reader: LogReader) -> AsyncIterator[bytes]:
    async for rows in _pages(query, reader):
        yield b"".join(orjson.dumps(record_json(row.record, row.id)) + b"\n" for row in rows)


async def _csv(query: LogFilter, reader: LogReader) -> AsyncIterator[str]:
    yield _csv_lines([CSV_COLUMNS])
    async for rows in _pages(query, reader):
        yield _csv_lines(_csv_row(row) for row in rows)


def _csv_row(row: StoredRecord) -> list[object]:
    value = record_json(row.record, row.id)
    value["argument_keys"] = " ".join(row.record.argument_keys)
    return [_csv_safe(value[column]) for column in CSV_COLUMNS]


def _csv_safe(value: object) -> object:
    """A cell a spreadsheet will show, not run: text starting like a formula gets a quote
    (OWASP's CSV injection advice); tool names and messages come from agents and policies."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_lines(rows: Iterator[list[object]] | list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()

"""``/api/logs`` and ``/api/logs/summary``: the proxy log, for viewers and up.

``since`` is a duration back from now (``7d``, ``12h``). Rows come newest first, a page at a
time: ``before`` is the ``next_before`` of the previous page.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from mcpwall.admin.endpoint import Call, Reply, Run
from mcpwall.core.durations import parse_duration
from mcpwall.core.errors import InvalidValue
from mcpwall.core.logquery import MAX_PAGE_SIZE, LogFilter, record_json, summary_json, timestamp
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.queryvalues import GRANT, MAX_ROW_ID, RULE, SINCE, TOOL, whole_number
from mcpwall.ports.logsink import LogReader

DEFAULT_PAGE_SIZE = 100
DEFAULT_SUMMARY_SINCE = "7d"
LIST_QUERY = frozenset(
    {
        "since",
        "decision",
        "tool",
        "grant",
        "upstream",
        "rule",
        "outcome",
        "method",
        "limit",
        "before",
    }
)
SUMMARY_QUERY = frozenset({"since"})


def list_logs(reader: LogReader) -> Run:
    def run(call: Call) -> Reply:
        query = call.query
        limit = whole_number(query.get("limit", str(DEFAULT_PAGE_SIZE)), "limit", 1, MAX_PAGE_SIZE)
        before = query.get("before")
        since = query.get("since")
        page = reader.read(
            LogFilter(
                since=None if since is None else _since(call, since),
                decision=query.get("decision"),
                tool=_checked(query.get("tool"), TOOL, "tool", "1 to 256 characters, no NUL"),
                grant=_checked(query.get("grant"), GRANT, "grant", "a grant id or label"),
                upstream=_checked(query.get("upstream"), NAME_PATTERN, "upstream", "a name"),
                rule=_checked(query.get("rule"), RULE, "rule", "1 to 1200 characters, no NUL"),
                outcome=query.get("outcome"),
                method=_checked(query.get("method"), TOOL, "method", "1 to 256 characters, no NUL"),
                before=None if before is None else whole_number(before, "before", 1, MAX_ROW_ID),
                limit=limit,
            )
        )
        next_before = page[-1].id if len(page) == limit else None
        records = [record_json(row.record, row.id) for row in page]
        return Reply({"records": records, "next_before": next_before})

    return run


def summarize(reader: LogReader) -> Run:
    def run(call: Call) -> Reply:
        since = _since(call, call.query.get("since", DEFAULT_SUMMARY_SINCE))
        rows = [summary_json(row) for row in reader.summary(since)]
        return Reply({"since": timestamp(since), "rows": rows})

    return run


def _since(call: Call, text: str) -> datetime:
    _checked(text, SINCE, "since", "a duration such as 7d, 12h or 30m, under 100 years")
    return call.control.clock.now() - timedelta(seconds=parse_duration(text))


def _checked(text: str | None, pattern: re.Pattern[str], what: str, expected: str) -> str | None:
    if text is not None and pattern.fullmatch(text) is None:
        raise InvalidValue(what, text, expected)
    return text

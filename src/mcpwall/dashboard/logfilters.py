"""The proxy-log filters of the log, tail and export views, as the URL carries them.

Every filter lives in the query string, so a view can be linked, bookmarked and reloaded
and shows the same rows. Each is checked as the admin API checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from mcpwall.core.durations import parse_duration
from mcpwall.core.errors import InvalidValue
from mcpwall.core.logquery import DECISIONS, OUTCOMES, LogFilter
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.queryvalues import GRANT, RULE, SINCE, TOOL

DEFAULT_SINCE = "24h"


@dataclass(frozen=True, slots=True)
class LogView:
    """The filters as text, exactly as the form shows them; empty means "any"."""

    since: str = DEFAULT_SINCE
    grant: str = ""
    upstream: str = ""
    tool: str = ""
    decision: str = ""
    rule: str = ""
    outcome: str = ""
    until: str = ""  # an ISO 8601 time: rows before it

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LogView:
        """The filters of a query string; :class:`InvalidValue` names the first bad one."""
        values = {f.name: query.get(f.name, "").strip() for f in fields(cls)}
        view = cls(**values)
        if not view.since:
            view = replace(view, since=DEFAULT_SINCE)
        view.check()
        return view

    def check(self) -> None:
        if SINCE.fullmatch(self.since) is None:
            raise InvalidValue("since", self.since, "a duration such as 7d, 12h or 30m")
        for what, value, pattern, expected in (
            ("grant", self.grant, GRANT, "a grant id or label"),
            ("upstream", self.upstream, NAME_PATTERN, "an upstream name"),
            ("tool", self.tool, TOOL, "1 to 256 characters"),
        ):
            if value and pattern.fullmatch(value) is None:
                raise InvalidValue(what, value, expected)
        if self.decision and self.decision not in DECISIONS:
            raise InvalidValue("decision", self.decision, "one of " + ", ".join(DECISIONS))
        if self.outcome and self.outcome not in OUTCOMES:
            raise InvalidValue("outcome", self.outcome, "one of " + ", ".join(OUTCOMES))
        if self.rule and (RULE.fullmatch(self.rule) is None or not self.rule.isprintable()):
            raise InvalidValue("rule", self.rule, "a rule pointer or name as the log shows it")
        self.until_time()

    def until_time(self) -> datetime | None:
        """``until`` as a time (UTC when it names no zone), or None."""
        if not self.until:
            return None
        try:
            moment = datetime.fromisoformat(self.until.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue("until", self.until, "a time such as 2026-12-05T18:00Z") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def log_filter(
        self, now: datetime, *, before: int | None = None, after: int | None = None, limit: int
    ) -> LogFilter:
        return LogFilter(
            since=now - timedelta(seconds=parse_duration(self.since)),
            decision=self.decision or None,
            tool=self.tool or None,
            grant=self.grant or None,
            upstream=self.upstream or None,
            before=before,
            after=after,
            limit=limit,
            until=self.until_time(),
            rule=self.rule or None,
            outcome=self.outcome or None,
        )

    def pairs(self) -> list[tuple[str, str]]:
        """The filters that are set, as (name, value) pairs: hidden fields of a form."""
        return [(name, value) for name, value in asdict(self).items() if value]

    def query(self, **extra: str | int | None) -> str:
        """The query string of these filters (only those set), plus ``extra``."""
        pairs = dict(self.pairs())
        pairs |= {name: str(value) for name, value in extra.items() if value is not None}
        return urlencode(pairs)

    @property
    def active(self) -> bool:
        """Whether anything beyond the time range is filtered."""
        return any(value for name, value in self.pairs() if name != "since")

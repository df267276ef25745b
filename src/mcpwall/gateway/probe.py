"""Checking an upstream as the gateway sees it: open a session, list its tools, close.

:func:`probe` does what the pool does for an agent's first request (``gateway/upstreams.py``)
and no more: it opens a session through the gateway's own connector, negotiating the era with
the gateway's client info and no client capabilities (what a 2026-07-28 agent without any
gets), walks ``tools/list`` with the pool's own :func:`~mcpwall.gateway.upstreams.tool_pages`
(its page bound, the connector's message-size bound), measures how long that took, and closes
the session — a stdio upstream's process is stopped as the pool stops one. The whole check is
bounded by a timeout; a stdio check takes a process from the gateway's bound when it is given
one (:class:`~mcpwall.gateway.processes.ProcessSlots`), counted under its own name.

What comes back is a :class:`Probe`: reachable or not, with a short reason that never holds a
secret (env and header values, a URL's password and query values are masked out of it), the
protocol version and server the upstream named, and its tools as it lists them.

:class:`Prober` keeps the last probe of each upstream for the dashboard: a page view reuses
one younger than ``fresh_for`` (so looking at a page does not spawn a process each time), a
"check now" gets a new one unless the last is younger than ``min_interval``, only one check
of an upstream runs at a time (the others wait for its result) and at most a few at all.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import anyio.from_thread

from mcpwall.control.views import MASK, masked_url
from mcpwall.core.errors import UpstreamError, UpstreamUnavailable
from mcpwall.core.mcp.params import invalid_reasons, tool_declarations
from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.gateway.processes import ProcessSlot, ProcessSlots
from mcpwall.gateway.upstreams import MAX_LISTED_NAMES, ToolPage, tool_pages
from mcpwall.ports.clock import Clock
from mcpwall.ports.upstream import (
    ClientOffer,
    Message,
    Negotiated,
    UpstreamConnector,
    UpstreamSession,
)

log = logging.getLogger("mcpwall.gateway")

PROBE_TIMEOUT: Final = 15.0  # seconds for the whole check: open, list every page
FRESH_FOR: Final = timedelta(seconds=30)  # a page view reuses a probe this young
MIN_INTERVAL: Final = timedelta(seconds=10)  # "check now" reuses a probe this young
MAX_PROBES_AT_ONCE: Final = 4
PROBE_GRANT: Final = "(dashboard check)"  # whose share of the stdio processes a check takes
# A check declares every client capability the gateway relays for agents (core/mcp/
# capabilities.py), so that a server whose tools depend on them (one offering a sampling tool
# only to a client that samples) lists every tool some agent may be shown: what is pinned and
# reviewed is the whole of it. The check answers none of the server's own requests.
_RELAYED_LEGACY: Final[dict[str, object]] = {
    "roots": {"listChanged": True},
    "sampling": {},
    "elicitation": {},
}
_RELAYED_MODERN: Final[dict[str, object]] = {"roots": {}, "sampling": {}, "elicitation": {}}
OFFER: Final = ClientOffer(capabilities=_RELAYED_MODERN, legacy_capabilities=_RELAYED_LEGACY)

MAX_TOOLS: Final = MAX_LISTED_NAMES
MAX_PROPERTIES: Final = 100
MAX_TEXT: Final = 2000  # characters of a description kept
MAX_REASON: Final = 300  # characters of a failure's reason kept
MIN_SECRET_PART: Final = 6  # words of a secret at least this long are masked on their own too


@dataclass(frozen=True, slots=True)
class Property:
    """One top-level property of a tool's ``inputSchema``."""

    name: str
    type: str  # "string", "integer|null", or "" when the schema does not say
    required: bool
    description: str = ""


@dataclass(frozen=True, slots=True)
class ProbedTool:
    """A tool as the upstream listed it (texts bounded). ``dropped`` says why the gateway
    does not offer it (invalid ``x-mcp-header`` annotations), empty when it does."""

    name: str
    title: str = ""
    description: str = ""
    properties: tuple[Property, ...] = ()
    more_properties: int = 0
    dropped: str = ""


@dataclass(frozen=True, slots=True)
class Definitions:
    """An upstream's tool definitions exactly as it sent them, every page the gateway reads,
    and the ``instructions`` of its initialize result: what pins are made of and compared
    with. ``complete`` is False when the listing had more pages than the gateway reads (a
    tool on a page not read is neither seen nor known to be removed); ``unnamed`` counts
    listed entries that are not objects with a string ``name`` (nobody can call them)."""

    upstream: str
    tools: tuple[Mapping[str, object], ...] = ()
    instructions: str | None = None
    complete: bool = True
    unnamed: int = 0


@dataclass(frozen=True, slots=True)
class Probe:
    """One check of one upstream, at ``at``. ``latency_ms`` is how long opening the session
    and listing every page took (closing not included). ``definitions`` are the raw tool
    objects and instructions (None when unreachable)."""

    upstream: str
    at: datetime
    reachable: bool
    error: str = ""
    protocol_version: str = ""
    era: str = ""
    server_name: str = ""
    server_version: str = ""
    tools: tuple[ProbedTool, ...] = ()
    more_tools: int = 0  # listed past MAX_TOOLS, not kept
    more_pages: bool = False  # the listing had more pages than the gateway reads
    latency_ms: float = 0.0
    definitions: Definitions | None = None

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]


class _Failed(Exception):  # noqa: N818
    """A check that failed, with its reason (not yet redacted)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Listed:
    negotiated: Negotiated
    pages: list[ToolPage]
    latency_ms: float


async def _open_and_list(
    upstream: Upstream,
    connector: UpstreamConnector,
    timeout: float,
    processes: ProcessSlots | None,
) -> _Listed:
    """Open a session, list every page (at most the gateway's bound), close it, within
    ``timeout`` s and a process slot; :class:`_Failed` saying why not."""
    slot: ProcessSlot | None = None
    if upstream.kind is UpstreamKind.STDIO and processes is not None:
        slot = processes.take(PROBE_GRANT)
        if slot is None:
            raise _Failed(
                "not checked: the gateway runs as many stdio upstream processes as it may "
                "(or as many checks); try again later"
            )
    session: UpstreamSession | None = None
    step = "opening a session"
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            session = await connector.connect(upstream, OFFER, _ignored)
            negotiated: Negotiated = session.negotiated
            step = "listing its tools"
            pages = [page async for page in tool_pages(upstream.name, session, timeout)]
            latency_ms = (time.perf_counter() - started) * 1000
    except TimeoutError:
        raise _Failed(f"no answer within {timeout:g} s while {step}") from None
    except UpstreamError as error:
        raise _Failed(error.reason) from None
    except Exception as error:  # noqa: BLE001 (a bug: said as such, logged without values)
        log.error("checking upstream %s failed: %s", upstream.name, type(error).__name__)
        reason = f"the check failed ({type(error).__name__}); the server's log has more"
        raise _Failed(reason) from None
    finally:
        if session is not None:
            await _close(session)
        if slot is not None:
            slot.release()
    return _Listed(negotiated, pages, latency_ms)


def _definitions(upstream: str, listed: _Listed) -> Definitions:
    tools: list[Mapping[str, object]] = []
    unnamed = 0
    for page in listed.pages:
        for raw in page.tools:
            if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                tools.append(raw)
            else:
                unnamed += 1
    complete = not listed.pages or listed.pages[-1].next_cursor is None
    instructions = listed.negotiated.instructions
    return Definitions(
        upstream,
        tuple(tools),
        instructions if isinstance(instructions, str) else None,
        complete,
        unnamed,
    )


async def list_definitions(
    upstream: Upstream,
    connector: UpstreamConnector,
    *,
    timeout: float = PROBE_TIMEOUT,
    processes: ProcessSlots | None = None,
) -> Definitions:
    """``upstream``'s tool definitions and instructions as it sends them now, bounded as
    :func:`probe` is; :class:`UpstreamUnavailable` (its reason redacted) when they can't be
    had."""
    try:
        listed = await _open_and_list(upstream, connector, timeout, processes)
    except _Failed as failure:
        raise UpstreamUnavailable(upstream.name, redact(failure.reason, upstream)) from None
    return _definitions(upstream.name, listed)


async def probe(
    upstream: Upstream,
    connector: UpstreamConnector,
    *,
    at: datetime,
    timeout: float = PROBE_TIMEOUT,
    processes: ProcessSlots | None = None,
) -> Probe:
    """Check ``upstream``: open a session, list its tools, close it; within ``timeout`` s."""
    try:
        listed = await _open_and_list(upstream, connector, timeout, processes)
    except _Failed as failure:
        return Probe(upstream.name, at, reachable=False, error=redact(failure.reason, upstream))
    listing = _list(listed.pages)
    info = listed.negotiated.server_info
    return Probe(
        upstream.name,
        at,
        reachable=True,
        protocol_version=listed.negotiated.protocol_version,
        era=listed.negotiated.era,
        server_name=_text(info.get("name"), 200),
        server_version=_text(info.get("version"), 200),
        tools=listing.tools,
        more_tools=listing.more_tools,
        more_pages=listing.more_pages,
        latency_ms=listed.latency_ms,
        definitions=_definitions(upstream.name, listed),
    )


@dataclass
class _Listing:
    tools: tuple[ProbedTool, ...] = ()
    more_tools: int = 0
    more_pages: bool = False


def _list(pages: list[ToolPage]) -> _Listing:
    kept: list[ProbedTool] = []
    listing = _Listing()
    for page in pages:
        dropped = invalid_reasons(tool_declarations(page.tools))
        for raw in page.tools:
            tool = _tool(raw, dropped)
            if tool is None:
                continue
            if len(kept) < MAX_TOOLS:
                kept.append(tool)
            else:
                listing.more_tools += 1
        listing.more_pages = page.next_cursor is not None
    listing.tools = tuple(kept)
    return listing


def _tool(raw: object, dropped: Mapping[str, str]) -> ProbedTool | None:
    """A listed tool definition as kept, or None for one without a name (it can't be called)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    name: str = raw["name"]
    annotations = raw.get("annotations")
    title = raw.get("title")
    if title is None and isinstance(annotations, dict):
        title = annotations.get("title")
    schema = raw.get("inputSchema")
    properties: list[Property] = []
    more = 0
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        required = schema.get("required")
        needed = set(required) if isinstance(required, list) else set()
        for key, value in schema["properties"].items():
            if len(properties) >= MAX_PROPERTIES:
                more += 1
                continue
            properties.append(_property(str(key), value, key in needed))
    return ProbedTool(
        name=_text(name, MAX_TEXT),
        title=_text(title, MAX_TEXT),
        description=_text(raw.get("description"), MAX_TEXT),
        properties=tuple(properties),
        more_properties=more,
        dropped=dropped.get(name, ""),
    )


def _property(name: str, schema: object, required: bool) -> Property:
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):
        kind = "|".join(str(item) for item in kind)
    description = schema.get("description") if isinstance(schema, dict) else None
    return Property(_text(name, 200), _text(kind, 200), required, _text(description, MAX_TEXT))


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


async def _ignored(_message: Message) -> None:
    """What the upstream says unasked during a check (list changes, logs): nobody listens."""


async def _close(session: UpstreamSession) -> None:
    try:
        await session.aclose()
    except UpstreamError as error:
        log.warning("closing a checked upstream's session failed: %s", type(error).__name__)


def redact(text: str, upstream: Upstream) -> str:
    """``text`` without ``upstream``'s secrets: its URL as :func:`masked_url` shows it, and
    every env and header value, URL password and query value (and each longer word of one)
    replaced by ``***``; at most :data:`MAX_REASON` characters."""
    secrets: set[str] = {*upstream.env.values(), *upstream.headers.values()}
    if upstream.url is not None:
        text = text.replace(upstream.url, masked_url(upstream.url) or MASK)
        try:
            parts = urlsplit(upstream.url)
            secrets.add(parts.password or "")
            secrets.update(value for _, value in parse_qsl(parts.query))
        except ValueError:
            pass
    words = {word for secret in secrets for word in secret.split() if len(word) >= MIN_SECRET_PART}
    for secret in sorted(secrets | words, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return _text(text, MAX_REASON)


class Prober:
    """Probes of upstreams, kept a short while: what the dashboard shows and refreshes.

    Its methods are synchronous, for views that run in worker threads; a probe itself runs on
    the event loop that started the thread (``anyio.from_thread.run``), which is the server's.
    """

    def __init__(
        self,
        connector: UpstreamConnector,
        *,
        clock: Clock,
        timeout: float = PROBE_TIMEOUT,
        fresh_for: timedelta = FRESH_FOR,
        min_interval: timedelta = MIN_INTERVAL,
        processes: ProcessSlots | None = None,
    ) -> None:
        self.connector = connector
        self.clock = clock
        self.timeout = timeout
        self.fresh_for = fresh_for
        self.min_interval = min_interval
        self.processes = processes
        self._kept: dict[str, tuple[Upstream, Probe]] = {}
        self._guard = threading.Lock()  # over _kept and _checking
        self._checking: dict[str, threading.Lock] = {}
        self._at_once = threading.BoundedSemaphore(MAX_PROBES_AT_ONCE)

    def last(self, upstream: Upstream) -> Probe | None:
        """The last probe of ``upstream`` as it is registered now, however old; None if none."""
        with self._guard:
            kept = self._kept.get(upstream.name)
        if kept is None or kept[0] != upstream:
            return None  # never checked, or checked as it was before a change
        return kept[1]

    def wait_before_refresh(self, upstream: Upstream) -> float:
        """Seconds until :meth:`check` with ``refresh`` probes anew (0: it would now)."""
        last = self.last(upstream)
        if last is None:
            return 0.0
        left = (last.at + self.min_interval - self.clock.now()).total_seconds()
        return max(0.0, left)

    def check(self, upstream: Upstream, *, refresh: bool = False) -> Probe:
        """A probe of ``upstream``: the last one if younger than ``fresh_for`` (than
        ``min_interval`` with ``refresh``), else a new one. Call from a worker thread."""
        with self._guard:
            checking = self._checking.setdefault(upstream.name, threading.Lock())
        with checking:  # one check of an upstream at a time: the others get its result
            last = self.last(upstream)
            young = self.min_interval if refresh else self.fresh_for
            if last is not None and self.clock.now() - last.at < young:
                return last
            with self._at_once:
                found = anyio.from_thread.run(self._probe, upstream)
            with self._guard:
                self._kept[upstream.name] = (upstream, found)
            return found

    def check_now(self, upstream: Upstream) -> Probe:
        """A new probe of ``upstream`` whatever the age of the last (what an acceptance pins
        must be what the upstream sends now), bounded as :meth:`check`'s are; it is kept as
        the last. Call from a worker thread."""
        with self._guard:
            checking = self._checking.setdefault(upstream.name, threading.Lock())
        with checking, self._at_once:
            found = anyio.from_thread.run(self._probe, upstream)
        with self._guard:
            self._kept[upstream.name] = (upstream, found)
        return found

    def forget(self, name: str) -> None:
        """Drop what is kept of upstream ``name`` (it was removed)."""
        with self._guard:
            self._kept.pop(name, None)

    def keep_only(self, names: set[str]) -> None:
        """Drop what is kept of upstreams not in ``names`` (removed elsewhere)."""
        with self._guard:
            for name in set(self._kept) - names:
                del self._kept[name]
            for name in set(self._checking) - names:
                del self._checking[name]

    async def _probe(self, upstream: Upstream) -> Probe:
        return await probe(
            upstream,
            self.connector,
            at=self.clock.now(),
            timeout=self.timeout,
            processes=self.processes,
        )

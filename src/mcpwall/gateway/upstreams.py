"""Open upstream sessions, by owner, and what each upstream offers.

An *owner* is whoever a session serves: a legacy downstream session (its own upstream
sessions, so a stdio server gets a process per agent session), or a grant for stateless
2026-07-28 requests (one session per grant and upstream, shared by that grant's requests).
A session that fails with :class:`UpstreamClosed` is dropped, and the next request opens a
new one: a crashed stdio server is restarted on demand.

The pool also remembers the exact tool names each session offers, so a call to a name the
upstream does not offer (``Delete_Namespace`` where ``delete_namespace`` is hidden) is an
unknown tool at the gateway, whatever the upstream would make of it, and the ``Mcp-Param-*``
headers each tool declares, to check a 2026-07-28 agent's against its arguments. A tool whose
``x-mcp-header`` annotations are invalid is not offered: a client must drop it (2026-07-28
streamable-http §Custom Headers). The index is refreshed when the upstream says its list
changed.

For 2026-07-28 agents, who hear of changes only on ``subscriptions/listen`` streams, the pool
also keeps, per owner and upstream, a :class:`~mcpwall.gateway.feeds.UpstreamFeed` telling
the upstream what those streams want to hear (:meth:`UpstreamPool.listen`).

A stdio session is a process, and processes are bounded (:mod:`mcpwall.gateway.processes`):
in all, and per grant (a legacy session's processes count against the grant that
:meth:`UpstreamPool.charge` names; a ``grant:{id}`` owner's against that grant). When none is
free, the least recently used idle process that would make room is stopped first: one used
by nobody for longer than the upstream timeout (so no request of its can still run) and
heard by no listen stream. Its owner's next request starts a new one, as after a crash: what
the old one held (subscriptions, a log level) is gone. Else the opener waits its turn, and
if none is free in time, is refused with :class:`~mcpwall.core.errors.OverCapacity`.

One session is opened at a time per owner and upstream, and the owner's other requests wait
for it (a grant's concurrent 2026-07-28 calls, say). Those that waited behind an opener that
found no process in time are refused at once, without a wait of their own: each waiting its
turn after the other would make the wait for a refusal grow with the number of requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from mcpwall.core.errors import (
    GatewayOverCapacity,
    GrantOverCapacity,
    MCPWallError,
    OverCapacity,
    UpstreamClosed,
    UpstreamError,
    UpstreamProtocolError,
)
from mcpwall.core.jsonvalue import render
from mcpwall.core.mcp.params import (
    Declarations,
    InvalidDeclarations,
    invalid_reasons,
    tool_declarations,
)
from mcpwall.core.mcp.subscriptions import Interest
from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.gateway.feeds import UpstreamFeed
from mcpwall.gateway.pins import DUPLICATED, Fingerprint, Fingerprints
from mcpwall.gateway.processes import (
    STDIO_PROCESSES_PER_GRANT_SETTING,
    STDIO_PROCESSES_SETTING,
    ProcessSlot,
    ProcessSlots,
)
from mcpwall.ports.upstream import (
    Attacher,
    ClientOffer,
    Detachable,
    Message,
    Receiver,
    Resumable,
    Resumption,
    UpstreamConnector,
    UpstreamSession,
)

log = logging.getLogger("mcpwall.gateway")

MAX_LISTED_NAMES = 10_000  # per upstream, remembered for metric labels
MAX_LIST_PAGES = 100  # a tools/list walk stops here (the mcp SDK caps its own re-list alike)
LIST_CHANGED = "notifications/tools/list_changed"
GRANT_OWNER = "grant:"  # the owner of a grant's 2026-07-28 requests: f"grant:{grant_id}"

Owner = str
Lookup = Callable[[str], Awaitable[Upstream]]
Listed = Callable[[str, dict[str, Fingerprint]], None]
"""Told each whole listing an upstream gave (its tools' fingerprints by name)."""


@dataclass(frozen=True)
class Lease:
    """A listener's hold on one upstream's change notifications; :meth:`release` ends it."""

    release: Callable[[], None]
    settled: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ToolIndex:
    """What an upstream offers one owner: the exact tool names, the ``Mcp-Param-*``
    headers of the tools that declare some (most declare none), and each tool's
    :class:`~mcpwall.gateway.pins.Fingerprint` (what its pin is checked against)."""

    names: frozenset[str]
    declared: dict[str, Declarations]
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)


class _Opening:
    """Who opens one (owner, upstream) session: one opener at a time, and how many of them
    found no process in time (those queued behind one that did are refused at once)."""

    __slots__ = ("lock", "refused")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.refused = 0


@dataclass
class _Entry:
    session: UpstreamSession
    tools: ToolIndex | None = None  # listed when first needed, dropped on list_changed
    listeners: list[Receiver] = field(default_factory=list)
    process: ProcessSlot | None = None  # a stdio upstream's, given back once it has exited
    used: float = 0.0  # when last asked for (set by UpstreamPool._entry)


class UpstreamPool:
    """Sessions keyed by (owner, upstream name), opened on first use."""

    def __init__(
        self,
        lookup: Lookup,
        connector: UpstreamConnector,
        *,
        timeout: float,
        processes: ProcessSlots | None = None,
        fingerprints: Fingerprints | None = None,
        on_listed: Listed | None = None,
    ) -> None:
        self._lookup = lookup
        self._connector = connector
        self.timeout = timeout
        self.processes = ProcessSlots() if processes is None else processes
        self.fingerprints = Fingerprints() if fingerprints is None else fingerprints
        self._on_listed = on_listed
        self._entries: dict[tuple[Owner, str], _Entry] = {}
        self._opening: dict[tuple[Owner, str], _Opening] = {}
        # Listeners outlive a session: when a crashed stdio server is restarted, the legacy
        # session listening to it (its GET stream) keeps hearing from the new one.
        self._listeners: dict[tuple[Owner, str], list[Receiver]] = {}
        # Every tool name each upstream has listed, to any owner: what a metric may name.
        self._listed: dict[str, frozenset[str]] = {}
        # (upstream, tool) already warned about as dropped: later listings say it at DEBUG.
        self._dropped: set[tuple[str, str]] = set()
        self._feeds: dict[tuple[Owner, str], UpstreamFeed] = {}
        self._charged: dict[Owner, str] = {}  # a legacy session → its grant
        # Upstream sessions another process opened for an owner, carried on when first used.
        self._resumptions: dict[tuple[Owner, str], Resumption] = {}
        # Owners whose HTTP upstream sessions outlive this pool (sealed legacy sessions).
        self._kept: set[Owner] = set()
        self._giving_back: set[asyncio.Task[None]] = set()

    def charge(self, owner: Owner, grant_id: str) -> None:
        """Count the processes ``owner`` opens against ``grant_id``'s share (a legacy
        session's grant; a ``grant:{id}`` owner needs no saying)."""
        self._charged[owner] = grant_id

    def keep_open(self, owner: Owner) -> None:
        """Have :meth:`aclose` let go of ``owner``'s HTTP upstream sessions rather than end
        them: another process (or this one, restarted) may carry them on."""
        self._kept.add(owner)

    def resume(self, owner: Owner, resumptions: Mapping[str, Resumption]) -> None:
        """Have ``owner`` carry on these upstream sessions (by upstream name), opened by
        another process, instead of opening new ones: each when first used."""
        self.keep_open(owner)
        for upstream, resumption in resumptions.items():
            self._resumptions[(owner, upstream)] = resumption

    def resumable(self, owner: Owner) -> dict[str, Resumption]:
        """What another process needs to carry on ``owner``'s open upstream sessions, by
        upstream name: those that can be (legacy Streamable HTTP sessions)."""
        found: dict[str, Resumption] = {}
        for (holder, upstream), entry in self._entries.items():
            if holder == owner and isinstance(entry.session, Resumable):
                resumption = entry.session.resumption()
                if resumption is not None:
                    found[upstream] = resumption
        return found

    async def session(
        self, owner: Owner, upstream: str, offer: ClientOffer, listener: Receiver | None = None
    ) -> UpstreamSession:
        """The owner's session with ``upstream``, opened (and negotiated) if needed.

        ``listener`` receives the upstream's unsolicited messages (list changes, …).
        """
        return (await self._entry(owner, upstream, offer, listener)).session

    async def listen(
        self,
        owner: Owner,
        upstream: str,
        offer: ClientOffer,
        listener: Receiver,
        interest: Interest,
    ) -> Lease:
        """Have ``listener`` hear what ``upstream`` sends the owner unasked, the upstream kept
        sending the changes in ``interest`` (see :mod:`mcpwall.gateway.feeds`), until the
        lease is released. :meth:`Lease.settled` waits until the upstream was asked."""
        key = (owner, upstream)
        await self._entry(owner, upstream, offer, listener)
        feed = self._feeds.get(key)
        if feed is None:

            async def connect() -> UpstreamSession:
                return await self.session(owner, upstream, offer)

            async def deliver(message: Message) -> None:
                await self._fan_out(key, message)

            feed = UpstreamFeed(upstream, connect, deliver, timeout=self.timeout)
            self._feeds[key] = feed
        token = object()
        feed.want(token, interest)

        def release() -> None:
            feed.drop(token)
            listeners = self._listeners.get(key, [])
            if listener in listeners:
                listeners.remove(listener)
            if feed.idle and self._feeds.get(key) is feed:
                del self._feeds[key]  # its task ends by itself, the last interest gone

        return Lease(release, feed.settled)

    def opened(self, owner: Owner) -> list[str]:
        """The upstreams ``owner`` has a session with, open now, in name order."""
        return sorted(
            upstream
            for (holder, upstream), entry in self._entries.items()
            if holder == owner and not entry.session.closed
        )

    async def tool_index(self, owner: Owner, upstream: str, offer: ClientOffer) -> ToolIndex:
        """The exact names of the tools the upstream offers this owner (all pages), and the
        ``Mcp-Param-*`` headers those that declare some declare."""
        entry = await self._entry(owner, upstream, offer, None)
        if entry.tools is None:
            entry.tools = await self._list_tools(upstream, entry.session)
            self._note_listed(upstream, entry.tools.names)
            if self._on_listed is not None:
                self._on_listed(upstream, entry.tools.fingerprints)
        return entry.tools

    def check_index(
        self, owner: Owner, upstream: str, fingerprints: Mapping[str, Fingerprint]
    ) -> None:
        """Drop the owner's tool index of ``upstream`` if a listing just read disagrees with
        it (a tool it lacks, or defined otherwise): the upstream changed without saying so,
        and the next call must be checked against what it lists now."""
        entry = self._entries.get((owner, upstream))
        if entry is None or entry.tools is None:
            return
        known = entry.tools.fingerprints
        if any(known.get(name) != found for name, found in fingerprints.items()):
            entry.tools = None

    def note_dropped(self, upstream: str, invalid: dict[str, str]) -> None:
        """Log that tools were dropped for invalid ``x-mcp-header`` annotations (name →
        why): a warning the first time, then at DEBUG, as every listing finds them again."""
        for tool, reason in invalid.items():
            first = (upstream, tool) not in self._dropped
            if first and len(self._dropped) < MAX_LISTED_NAMES:
                self._dropped.add((upstream, tool))
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "upstream %s: tool %s is dropped from tools/list and refused, as a client must: "
                "its inputSchema's %s",
                upstream, render(tool), reason,
            )  # fmt: skip

    async def request(
        self,
        owner: Owner,
        upstream: str,
        offer: ClientOffer,
        method: str,
        params: dict[str, object] | None,
        related: Receiver | None = None,
    ) -> Message:
        """Send one request through the owner's session; a dead session is dropped. A
        session that could not be opened means the request was never sent (``unsent``)."""
        try:
            session = await self.session(owner, upstream, offer)
        except UpstreamError as error:
            error.unsent = True
            raise
        try:
            response = await session.request(method, params, related=related, timeout=self.timeout)
        except UpstreamClosed:
            self._forget(owner, upstream, session)
            raise
        if method == "tools/list":
            self._note_listed(upstream, _tool_names(response.get("result")))
        return response

    def has_listed(self, upstream: str, tool: str) -> bool:
        """Whether ``upstream`` has listed ``tool`` (to anyone): bounds metric labels."""
        return tool in self._listed.get(upstream, ())

    def _note_listed(self, upstream: str, names: frozenset[str]) -> None:
        known = self._listed.get(upstream, frozenset())
        if not names <= known and len(known) < MAX_LISTED_NAMES:
            self._listed[upstream] = known | names  # replaced whole: read from other threads

    async def close_owner(self, owner: Owner) -> None:
        """End every session of ``owner`` (a legacy session was deleted), upstream too:
        those it carries on from another process included, opened here or not."""
        for key in [key for key in self._resumptions if key[0] == owner]:
            await self._terminate(key[1], self._resumptions.pop(key))
        await self._drop_owner(owner, detach=False)

    async def detach_owner(self, owner: Owner) -> None:
        """Let go of ``owner``'s sessions here (its legacy session was idle for long here):
        a stdio process stops, an HTTP upstream session that another process may carry on
        is left open upstream."""
        await self._drop_owner(owner, detach=True)

    async def _drop_owner(self, owner: Owner, *, detach: bool) -> None:
        # Every key of the owner's, opened or not: a legacy session refused a process at
        # initialize (a new owner each time) must leave nothing behind.
        for key in [key for key in self._resumptions if key[0] == owner]:
            del self._resumptions[key]
        for key in [key for key in self._opening if key[0] == owner]:
            del self._opening[key]
        for key in [key for key in self._listeners if key[0] == owner]:
            del self._listeners[key]
        for key in [key for key in self._feeds if key[0] == owner]:
            await self._feeds.pop(key).aclose()
        for key in [key for key in self._entries if key[0] == owner]:
            await self._close_entry(self._entries.pop(key), detach=detach)
        self._charged.pop(owner, None)
        self._kept.discard(owner)

    async def aclose(self) -> None:
        """Close every session; those of owners kept open (:meth:`keep_open`) are let go
        of, not ended."""
        feeds, self._feeds = list(self._feeds.values()), {}
        await asyncio.gather(*(feed.aclose() for feed in feeds))
        entries, self._entries = self._entries, {}
        await asyncio.gather(
            *(
                self._close_entry(entry, detach=owner in self._kept)
                for (owner, _), entry in entries.items()
            )
        )
        for task in self._giving_back:
            task.cancel()

    async def _entry(
        self, owner: Owner, upstream: str, offer: ClientOffer, listener: Receiver | None
    ) -> _Entry:
        key = (owner, upstream)
        entry = self._entries.get(key)
        if entry is not None and entry.session.closed:  # crashed, or ended by the upstream
            del self._entries[key]
            entry = None
        if entry is None:
            opening = self._opening.setdefault(key, _Opening())
            refused = opening.refused
            async with opening.lock:
                entry = self._entries.get(key)
                if entry is None:
                    # Refused meanwhile: no process came in a whole wait, so none waits again.
                    patient = opening.refused == refused
                    try:
                        entry = await self._open(key, offer, patient=patient)
                    except OverCapacity:
                        opening.refused += 1
                        raise
        if listener is not None and listener not in entry.listeners:
            entry.listeners.append(listener)
        entry.used = time.monotonic()
        return entry

    async def _open(
        self, key: tuple[Owner, str], offer: ClientOffer, *, patient: bool = True
    ) -> _Entry:
        registered = await self._lookup(key[1])
        holder: list[_Entry] = []

        async def unsolicited(message: Message) -> None:
            if holder:
                await self._unsolicited(holder[0], message)

        process = None
        if registered.kind is UpstreamKind.STDIO:
            process = await self._process_for(key, patient=patient)
        try:
            session = await self._resumed(key, registered, offer, unsolicited)
            if session is None:
                session = await self._connector.connect(registered, offer, unsolicited)
        except BaseException:
            if process is not None:
                process.release()  # a failed start stops what it spawned before it raises
            raise
        entry = _Entry(session, listeners=self._listeners.setdefault(key, []), process=process)
        holder.append(entry)
        self._entries[key] = entry
        if process is not None:
            task = asyncio.ensure_future(self._give_back_when_over(key, entry))
            self._giving_back.add(task)
            task.add_done_callback(self._giving_back.discard)
        return entry

    async def _resumed(
        self,
        key: tuple[Owner, str],
        registered: Upstream,
        offer: ClientOffer,
        unsolicited: Receiver,
    ) -> UpstreamSession | None:
        """The session another process opened for ``key``, carried on; None when there is
        none to carry on (or it is gone upstream: a new one is opened, as after a crash)."""
        resumption = self._resumptions.pop(key, None)
        if resumption is None or not isinstance(self._connector, Attacher):
            return None
        if registered.kind is not UpstreamKind.HTTP:
            return None
        try:
            session = await self._connector.attach(registered, offer, unsolicited, resumption)
        except UpstreamError as error:
            log.info("upstream %s: carrying on a session failed, opening a new one: %s",
                     key[1], error)  # fmt: skip
            return None
        if session.closed:  # the upstream forgot it (expired, restarted)
            await self._close(session)
            log.info("upstream %s: the session to carry on is gone, opening a new one", key[1])
            return None
        return session

    async def _terminate(self, upstream: str, resumption: Resumption) -> None:
        """End upstream a session another process opened, that was never used here."""
        if not isinstance(self._connector, Attacher):
            return
        try:
            registered = await self._lookup(upstream)
            if registered.kind is not UpstreamKind.HTTP:
                return
            session = await self._connector.attach(
                registered, ClientOffer(era="legacy"), _ignore, resumption, listen=False
            )
        except (UpstreamError, MCPWallError) as error:
            log.warning("upstream %s: ending a session failed: %s", upstream, error)
            return
        await self._close(session)

    # -- stdio processes -------------------------------------------------------------------------

    async def _process_for(self, key: tuple[Owner, str], *, patient: bool) -> ProcessSlot:
        """A process for ``key``'s owner to start ``key``'s upstream: free now, or made free
        by stopping an idle one, or (``patient``) given back while it waits; else
        :class:`OverCapacity`."""
        grant = self._grant_of(key[0])
        process = self.processes.take(grant)
        if process is None:
            await self._reclaim(grant)
            process = await self.processes.acquire(grant) if patient else self.processes.take(grant)
            if process is None and patient:  # one may have become idle long enough meanwhile
                await self._reclaim(grant)
                process = self.processes.take(grant)
        if process is None:
            raise self._no_process(grant, key[1])
        return process

    def _grant_of(self, owner: Owner) -> str:
        return self._charged.get(owner) or owner.removeprefix(GRANT_OWNER)

    def _least_recently_used(self, grant: str | None) -> tuple[float, tuple[Owner, str]] | None:
        """(last used, key) of the least recently used process no listen stream needs, of
        ``grant``'s owners (of anyone's when None); None if there is none."""
        return min(
            (
                (entry.used, key)
                for key, entry in self._entries.items()
                if entry.process is not None
                and not entry.session.closed
                and key not in self._feeds
                and (grant is None or self._grant_of(key[0]) == grant)
            ),
            default=None,
        )

    async def _reclaim(self, grant: str) -> None:
        """Stop the least recently used process idle for longer than the upstream timeout
        (none of its requests can still run) whose end lets ``grant`` start one: one of its
        own when it is at its share, anyone's otherwise."""
        oldest = self._least_recently_used(grant if self.processes.at_share(grant) else None)
        if oldest is None or time.monotonic() - oldest[0] <= self.timeout:
            return
        upstream = oldest[1][1]
        log.info("upstream %s: stopping a process idle for long, to start another", upstream)
        await self._close_entry(self._entries.pop(oldest[1]))

    def _no_process(self, grant: str, upstream: str) -> OverCapacity:
        """The refusal of a process to ``grant``; it may retry when the least recently used
        process that would make room will have been idle long enough to be stopped."""
        processes = self.processes
        own = processes.at_share(grant)
        oldest = self._least_recently_used(grant if own else None)
        retry = self.timeout if oldest is None else oldest[0] + self.timeout - time.monotonic()
        waited = f"none was free within {processes.wait:g} s"
        if own:
            cap, limit = STDIO_PROCESSES_PER_GRANT_SETTING, processes.per_grant
            log.warning("upstream %s: grant %s runs its %d processes (%s)", upstream, grant,
                        limit, cap)  # fmt: skip
            return GrantOverCapacity(
                f'upstream "{upstream}": this grant runs as many stdio upstream processes as '
                f"one grant may ({cap}={limit}), and {waited}: end a session",
                cap=cap, limit=limit, retry_after_s=retry, upstream=upstream,
            )  # fmt: skip
        cap, limit = STDIO_PROCESSES_SETTING, processes.limit
        log.warning("upstream %s: the gateway runs its %d processes (%s)", upstream, limit, cap)
        return GatewayOverCapacity(
            f'upstream "{upstream}": the gateway runs as many stdio upstream processes as it '
            f"may ({cap}={limit}), and {waited}",
            cap=cap, limit=limit, retry_after_s=retry, upstream=upstream,
        )  # fmt: skip

    async def _give_back_when_over(self, key: tuple[Owner, str], entry: _Entry) -> None:
        """Give back ``entry``'s process once its session is over, whoever ended it (a
        crash included), and only once the process has exited."""
        await entry.session.wait_closed()
        if self._entries.get(key) is entry:  # it crashed: the next request starts another
            del self._entries[key]
        await self._close_entry(entry)

    async def _close_entry(self, entry: _Entry, *, detach: bool = False) -> None:
        if detach and isinstance(entry.session, Detachable):
            await entry.session.detach()
        else:
            await self._close(entry.session)
        if entry.process is not None:
            entry.process.release()

    async def _fan_out(self, key: tuple[Owner, str], message: Message) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            await self._unsolicited(entry, message)

    async def _unsolicited(self, entry: _Entry, message: Message) -> None:
        if message.get("method") == LIST_CHANGED:
            entry.tools = None  # the next call or listing asks again
        for listener in list(entry.listeners):
            try:
                await listener(message)
            except Exception:  # a listener (a closed stream, say) must not stop the others
                log.exception("delivering an upstream notification failed")

    async def _list_tools(self, upstream: str, session: UpstreamSession) -> ToolIndex:
        """The names of the tools ``upstream`` offers, and the declarations of those that
        declare ``Mcp-Param-*`` headers."""
        names: set[str] = set()
        declared: dict[str, Declarations] = {}
        fingerprints: dict[str, Fingerprint] = {}
        async for page in tool_pages(upstream, session, self.timeout):
            found = tool_declarations(page.tools)
            self.note_dropped(upstream, invalid_reasons(found))
            for name, declarations in found.items():
                if isinstance(declarations, InvalidDeclarations):
                    continue
                names.add(name)
                if declarations:
                    declared[name] = declarations
            for tool in page.tools:
                listed = tool.get("name") if isinstance(tool, dict) else None
                if isinstance(tool, dict) and isinstance(listed, str) and listed in names:
                    # A name listed twice: which definition would the agent read?
                    repeated = listed in fingerprints
                    fingerprints[listed] = DUPLICATED if repeated else self.fingerprints.of(tool)
        return ToolIndex(frozenset(names), declared, fingerprints)

    def _forget(self, owner: Owner, upstream: str, session: UpstreamSession) -> None:
        entry = self._entries.get((owner, upstream))
        if entry is not None and entry.session is session:
            del self._entries[(owner, upstream)]

    @staticmethod
    async def _close(session: UpstreamSession) -> None:
        try:
            await session.aclose()
        except UpstreamError as error:
            log.warning("closing an upstream session failed: %s", error)


class ToolPage(NamedTuple):
    """One page of an upstream's ``tools/list``: its tool definitions, as sent, and the
    cursor of the next page (None on the last)."""

    tools: list[object]
    next_cursor: str | None


async def tool_pages(
    upstream: str, session: UpstreamSession, timeout: float
) -> AsyncIterator[ToolPage]:
    """Each page of ``upstream``'s ``tools/list``, following its cursors, at most
    :data:`MAX_LIST_PAGES` of them (each request within ``timeout`` seconds).
    :class:`UpstreamProtocolError` for an answer without a list of tools."""
    cursor: object = None
    for _ in range(MAX_LIST_PAGES):
        params = None if cursor is None else {"cursor": cursor}
        response = await session.request("tools/list", params, timeout=timeout)
        result = response.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            raise UpstreamProtocolError(upstream, "tools/list answered without a list of tools")
        cursor = result.get("nextCursor")
        yield ToolPage(result["tools"], cursor if isinstance(cursor, str) else None)
        if not isinstance(cursor, str):
            return


async def _ignore(message: Message) -> None:
    """A receiver for a session only opened to be ended."""


def _tool_names(result: object) -> frozenset[str]:
    """The names in a ``tools/list`` result (none if it has no list of tools)."""
    tools = result.get("tools") if isinstance(result, dict) else None
    if not isinstance(tools, list):
        return frozenset()
    return frozenset(
        tool["name"]
        for tool in tools
        if isinstance(tool, dict) and isinstance(tool.get("name"), str)
    )

"""Tool-definition pins at the gateway: what each upstream's tools are judged against.

Every ``tools/list`` page and every ``tools/call`` that the policy allows is checked against
the upstream's pins (``core.pins``), by the upstream's pinning mode:

* ``enforce``: a tool whose definition differs from its pin, that was not there when the
  upstream was pinned, or that carries suspicious text never accepted, is *withheld*: left
  out of ``tools/list`` and refused as an unknown tool, its row saying why
  (``(definition changed)``, ``(not pinned)``);
* ``warn``: served as listed, its rows marked (the ``pin`` column, and a metric);
* ``off``: not checked.

Pins are read from the store (shared by every replica) once per upstream and kept until the
store's revision moves — an acceptance made on any replica is a change like a new policy
version. Pins that cannot be read withhold every tool of their upstream (fail closed), and
so does a store that cannot be reached before an upstream's pins were first read.

**Trust on first use.** An upstream nobody has pinned (``upstream add`` could not reach it)
is pinned by the first gateway that needs its pins: it lists every page through the session
at hand and pins what it finds, except suspicious tools (withheld until a person accepts
them). Replicas racing to do so are serialised by the store, and the first one wins.

**Telling agents.** The gateway keeps, per upstream, the last definitions it saw listed
(their hashes) and which of them it withholds. When that set changes — an upstream that
changed a tool, or pins accepted on any replica — the upstream is reported by
:meth:`PinGuard.take_changed`, and the transports tell open legacy sessions and listen
streams that their tool lists changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from mcpwall.core.errors import NotFound, PinUnreadable, StoreError
from mcpwall.core.jsonvalue import render
from mcpwall.core.pins import (
    SERVED,
    UNREADABLE,
    Pins,
    Standing,
    pin_hash,
    standing,
    suspicious,
    visible,
)
from mcpwall.core.registry import Pinning
from mcpwall.ports.store import Store

log = logging.getLogger("mcpwall.gateway")

FIRST_USE_ACTOR = "gateway (trust on first use)"
FINGERPRINTS_KEPT = 10_000  # tool definitions whose hash is remembered (by their JSON bytes)
MARKED_NAMES_SHOWN = 5  # tools a listing's row names, at most

Changes = Callable[[], int]
"""How many times the store has changed, as this process has seen it (``GrantCache.changes``)."""

FirstListing = Callable[[], Awaitable[tuple[Sequence[object], str | None]]]
"""Every tool an upstream lists (all pages, as sent) and its instructions: what a first use pins."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A listed tool's pin hash and whether :func:`~mcpwall.core.pins.suspicious` finds any
    hidden or reordering text in it."""

    hash: str
    suspicious: bool


DUPLICATED = Fingerprint("", suspicious=True)
"""The fingerprint of a name a listing gives twice: matches no pin, suspicious."""


class Fingerprints:
    """:class:`Fingerprint` of tool objects, remembered by their JSON bytes: the same
    definition is listed again and again, and its canonical form need not be made each time."""

    def __init__(self, kept: int = FINGERPRINTS_KEPT) -> None:
        self._kept = kept
        self._known: OrderedDict[bytes, Fingerprint] = OrderedDict()

    def of(self, tool: Mapping[str, object]) -> Fingerprint:
        try:
            key = orjson.dumps(tool)
        except TypeError:  # not what orjson writes (an integer past 64 bits): not remembered
            return _fingerprint(tool)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = _fingerprint(tool)
            if len(self._known) > self._kept:
                self._known.popitem(last=False)
        return known


def _fingerprint(tool: Mapping[str, object]) -> Fingerprint:
    return Fingerprint(pin_hash(tool), bool(suspicious(tool)))


@dataclass(frozen=True, slots=True)
class UpstreamPins:
    """What a gateway judges one upstream's tools by: its mode and its pinned hashes. A
    ``None`` ``hashes`` means the pins can't be read (or the store reached): withhold all."""

    mode: Pinning
    hashes: Mapping[str, str] | None = field(default_factory=dict)
    read: bool = True  # False: the store failed, so nothing was read (and nothing is kept)

    def judge(self, name: str, fingerprint: Fingerprint, *, duplicated: bool = False) -> Standing:
        """How the tool ``name`` with ``fingerprint`` stands (see :func:`core.pins.standing`)."""
        if self.mode is Pinning.OFF:
            return SERVED
        if self.hashes is None:
            return UNREADABLE
        return standing(
            enforce=self.mode is Pinning.ENFORCE,
            pinned_hash=self.hashes.get(name),
            live_hash=fingerprint.hash,
            suspicious_text=fingerprint.suspicious,
            duplicated=duplicated,
        )


OFF = UpstreamPins(Pinning.OFF)
UNREADABLE_PINS = UpstreamPins(Pinning.ENFORCE, None)  # read, and unreadable: fail closed
UNKNOWN = UpstreamPins(Pinning.ENFORCE, None, read=False)  # not read (the store failed)


@dataclass(frozen=True, slots=True)
class PageJudgement:
    """One listing page judged: each listed tool's standing by name, and what its proxy-log
    row says (``mark``: the first mark among the tools the agent would otherwise see)."""

    standings: Mapping[str, Standing]
    fingerprints: Mapping[str, Fingerprint]
    mark: str = ""
    message: str = ""

    def withheld(self, name: str) -> bool:
        found = self.standings.get(name)
        return found is not None and found.withheld


class PinGuard:
    """Each upstream's pins as the store says, and the standing of the tools it lists."""

    def __init__(
        self,
        store: Store,
        changes: Changes,
        fingerprints: Fingerprints | None = None,
        *,
        store_lost: Callable[[], bool] = lambda: False,
    ) -> None:
        self._store = store
        self._changes = changes
        # While the store is known lost (``GrantCache.outage``), pins never read are not
        # asked for on each call: those tools are withheld at once until it is back.
        self._store_lost = store_lost
        self.fingerprints = Fingerprints() if fingerprints is None else fingerprints
        self._seen_changes = changes()  # when the pins kept were read
        self._reviewed_changes = self._seen_changes  # when the last listings were judged again
        self._pins: dict[str, UpstreamPins] = {}
        self._first_use = asyncio.Lock()
        self._reading: dict[str, asyncio.Lock] = {}
        # Per upstream: the fingerprints it last listed, and which of those are withheld.
        self._listed: dict[str, dict[str, Fingerprint]] = {}
        self._withheld: dict[str, frozenset[str]] = {}
        self._changed: set[str] = set()
        self.changes = 0  # grows each time an upstream's withheld tools changed

    # -- pins --------------------------------------------------------------------------------------

    async def pins(self, upstream: str, first_listing: FirstListing) -> UpstreamPins:
        """``upstream``'s pins, read from the store if not known since it last changed; pinned
        on first use (by ``first_listing``) if it was never pinned."""
        self._forget_if_changed()
        known = self._pins.get(upstream)
        if known is not None:
            return known
        if self._store_lost():
            return UNKNOWN
        # One read per upstream at a time: the calls that arrive together before its pins are
        # known (sixty at once, say) wait for that read rather than each taking a connection.
        async with self._reading.setdefault(upstream, asyncio.Lock()):
            self._forget_if_changed()
            known = self._pins.get(upstream)
            if known is not None:
                return known
            changes = self._changes()
            loaded, never_pinned = await asyncio.to_thread(self._load, upstream)
            if never_pinned:
                async with self._first_use:  # one first use at a time in this process
                    loaded = await self._pin_first_use(upstream, first_listing)
            # Kept only if the store did not change meanwhile: a read that raced an
            # acceptance must not stand for the pins after it.
            if loaded.read and self._changes() == changes:
                self._pins[upstream] = loaded
            return loaded

    @property
    def quiet(self) -> bool:
        """Whether :meth:`review` has nothing to do and :meth:`take_changed` nothing to say:
        the store has not changed since the last review, nor a listing what is withheld
        (asked on every request, before either)."""
        return not self._changed and self._changes() == self._reviewed_changes

    async def review(self) -> None:
        """After a store change: read again the pins of every upstream seen listed, and judge
        its last listing by them (an acceptance brings a tool back to every agent without
        waiting for one of them to list). Cheap when the store has not changed."""
        if self._changes() == self._reviewed_changes:
            return
        self._reviewed_changes = self._changes()
        self._forget_if_changed()
        for upstream, listed in list(self._listed.items()):
            loaded, never_pinned = await asyncio.to_thread(self._load, upstream)
            if never_pinned or not loaded.read:
                # Unpinned since (the next listing pins it again), or the store failed just
                # now: the next listing judges it, rather than a blip flapping agents' lists.
                continue
            self._pins[upstream] = loaded
            self._note(
                upstream, {name: loaded.judge(name, found) for name, found in listed.items()}
            )

    def _forget_if_changed(self) -> None:
        seen = self._changes()
        if seen != self._seen_changes:
            self._seen_changes = seen
            self._pins.clear()

    def _load(self, upstream: str) -> tuple[UpstreamPins, bool]:
        """(the upstream's pins, whether it was never pinned), from the store."""
        try:
            mode = self._store.get_upstream(upstream).pinning
            if mode is Pinning.OFF:
                return OFF, False
            pins = self._store.get_pins(upstream)
        except PinUnreadable as error:
            log.error("%s", error)
            return UNREADABLE_PINS, False
        except NotFound:
            return OFF, False  # removed meanwhile: the pool refuses it on its own
        except StoreError as error:
            log.warning("upstream %s: its pins can't be read now, its tools are withheld: %s",
                        upstream, error)  # fmt: skip
            return UNKNOWN, False
        return UpstreamPins(mode, _hashes(pins)), pins.empty

    async def _pin_first_use(self, upstream: str, first_listing: FirstListing) -> UpstreamPins:
        loaded, never_pinned = await asyncio.to_thread(self._load, upstream)
        if not never_pinned:
            return loaded  # pinned meanwhile, by this process or another
        listed, instructions = await first_listing()
        tools = self._trusted(listed)
        try:
            pins = await asyncio.to_thread(
                self._store.pin_first_use,
                upstream,
                tools,
                instructions=instructions,
                actor=FIRST_USE_ACTOR,
            )
        except StoreError as error:
            log.warning("upstream %s: pinning its tools on first use failed, they are withheld: "
                        "%s", upstream, error)  # fmt: skip
            return UNKNOWN
        log.info("upstream %s: %d tools pinned on first use (trust on first use)",
                 upstream, len(pins.tools))  # fmt: skip
        return UpstreamPins(loaded.mode, _hashes(pins))

    def _trusted(self, listed: Sequence[object]) -> list[Mapping[str, object]]:
        """The listed tools a first use pins: named once each, with no suspicious text."""
        named = [
            tool for tool in listed if isinstance(tool, dict) and isinstance(tool.get("name"), str)
        ]
        counts = Counter(tool["name"] for tool in named)
        return [
            tool
            for tool in named
            if counts[tool["name"]] == 1 and not self.fingerprints.of(tool).suspicious
        ]

    # -- judging -------------------------------------------------------------------------------

    def judge_page(self, upstream: str, pins: UpstreamPins, tools: object, *,
                   hidden: Callable[[str], bool]) -> PageJudgement:  # fmt: skip
        """Judge every tool of one ``tools/list`` page; ``hidden`` says which the agent would
        not see anyway (the policy's), whose standing the row does not mention."""
        listed = [
            tool
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, dict) and isinstance(tool.get("name"), str)
        ]
        counts = Counter(str(tool["name"]) for tool in listed)
        fingerprints = {str(tool["name"]): self.fingerprints.of(tool) for tool in listed}
        standings = {
            name: pins.judge(name, found, duplicated=counts[name] > 1)
            for name, found in fingerprints.items()
        }
        self._remember(upstream, fingerprints, replace=False)
        self._note(upstream, standings, replace=False)
        marked = [(name, s) for name, s in standings.items() if s.mark and not hidden(name)]
        if not marked:
            return PageJudgement(standings, fingerprints)
        mark, message = marked[0][1].mark, _listing_message(marked)
        return PageJudgement(standings, fingerprints, mark, message)

    def judge_call(
        self, upstream: str, pins: UpstreamPins, tool: str, fingerprint: Fingerprint | None
    ) -> Standing:
        """How a called tool stands, by the fingerprint the upstream's listing gave it (None:
        not known, which only a tool never listed has: the pool refuses it first)."""
        if fingerprint is None:
            return pins.judge(tool, Fingerprint("", suspicious=False))
        return pins.judge(tool, fingerprint)

    def remember_listing(self, upstream: str, fingerprints: Mapping[str, Fingerprint]) -> None:
        """Note an upstream's whole listing (every page), as the pool's tool index read it."""
        self._remember(upstream, dict(fingerprints), replace=True)
        known = self._pins.get(upstream)
        if known is not None:
            judged = {name: known.judge(name, found) for name, found in fingerprints.items()}
            self._note(upstream, judged, replace=True)

    def take_changed(self) -> set[str]:
        """The upstreams whose withheld tools changed since the last call."""
        changed, self._changed = self._changed, set()
        return changed

    def _remember(
        self, upstream: str, fingerprints: dict[str, Fingerprint], *, replace: bool
    ) -> None:
        if replace or upstream not in self._listed:
            self._listed[upstream] = fingerprints
        else:
            self._listed[upstream].update(fingerprints)

    def _note(
        self, upstream: str, standings: Mapping[str, Standing], *, replace: bool = True
    ) -> None:
        withheld = {name for name, found in standings.items() if found.withheld}
        before = self._withheld.get(upstream, frozenset())
        if not replace:
            withheld |= before - set(standings)
        now = frozenset(withheld)
        if now != before:
            self._withheld[upstream] = now
            self._changed.add(upstream)
            self.changes += 1
            added = sorted(now - before)
            if added:
                log.warning("upstream %s: %d tools withheld, their definitions not pinned as "
                            "listed: %s", upstream, len(added), _names(added))  # fmt: skip


def _hashes(pins: Pins) -> dict[str, str]:
    return {name: pin.hash for name, pin in pins.tools.items()}


def _names(names: Iterable[str], marks: Mapping[str, str] | None = None) -> str:
    """Tool names for a message: quoted, cut, invisible characters shown, at most a few."""
    shown = [render(visible(name)) + (f" ({marks[name]})" if marks else "") for name in names]
    if len(shown) > MARKED_NAMES_SHOWN:
        more = len(shown) - MARKED_NAMES_SHOWN
        return ", ".join(shown[:MARKED_NAMES_SHOWN]) + f" and {more} more"
    return ", ".join(shown)


def _listing_message(marked: Sequence[tuple[str, Standing]]) -> str:
    """A listing row's message: which tools were withheld or served unpinned, and why."""
    marks = {name: found.mark for name, found in marked}
    withheld = [name for name, found in marked if found.withheld]
    served = [name for name, found in marked if not found.withheld]
    parts = []
    if withheld:
        parts.append(f"withheld, not pinned as listed: {_names(withheld, marks)}")
    if served:
        parts.append(f"served, not pinned as listed: {_names(served, marks)}")
    return "; ".join(parts)

"""Authenticating agents: grant tokens → principals, cached, and never stale.

Every request presents a grant token. Looking it up in the database each time would put a
query on the hot path, so principals (a grant with the compiled current policy of each of its
bindings) are cached by token hash. The cache is dropped whenever the store's revision moves:
a :class:`~mcpwall.ports.changes.ChangeSignal` says cheaply whether it may have, and only then
is the revision read. So a revocation, a rotation or a new policy version takes effect on the
next request, with no restart and no per-request query.

Unknown tokens are remembered too (in a bounded set), so a client retrying a bad token does
not cost a query each time. Expiry is checked on every request against the clock.

**When the store is lost** (a read fails, or :meth:`GrantCache.confirm`, the server's
once-a-second heartbeat, gets no answer), the principals already cached keep serving for
``grace`` seconds (``MCPWALL_STORE_GRACE``) counted from the first failure, and the store is
not asked again on the request path: a token not cached is refused at once (the store can't
say whether it is valid), and nothing a request does waits on a database that may take
seconds to fail. Past the grace, every authentication raises :class:`StoreLost` (the gateway
refuses calls: fail closed). The heartbeat finds the store back and ends the outage; if the
revision moved meanwhile, the cache is dropped as after any change. The cache only ever holds
what was read: a grant revoked before the outage stays refused, but one revoked *during* it
(through a replica that can still write) is seen only once this one reads the store again.

What a load from the store found is kept only if the store did not change while it read: a
load that began before a revocation and ended after the cache was dropped puts its principal
in the dropped cache, not the new one.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mcpwall.core.errors import MCPWallError, NotFound, StoreLost, StoreUnavailable
from mcpwall.core.policy import CompiledPolicy, compile_text
from mcpwall.core.tokens import TokenKind, hash_token, is_token
from mcpwall.ports.changes import ChangeSignal
from mcpwall.ports.clock import Clock
from mcpwall.ports.downstream import Admitted
from mcpwall.ports.store import Store

log = logging.getLogger("mcpwall.gateway")

UNKNOWN_TOKENS_REMEMBERED = 10_000
GRACE_SETTING = "MCPWALL_STORE_GRACE"
DEFAULT_GRACE_SECONDS = 300.0
CONFIRM_TIMEOUT_SECONDS = 2.0  # a heartbeat without an answer by then counts as a failure


class _Miss(enum.Enum):
    MISS = "miss"


@dataclass(frozen=True, slots=True)
class Binding:
    """The policy a grant binds to an upstream: its name, and its compiled current version,
    or None when it can't be used (it then denies every call, rule ``(no policy)``)."""

    policy: str
    compiled: CompiledPolicy | None


@dataclass(frozen=True, slots=True)
class Principal(Admitted):
    """An authenticated grant, as the data plane uses it: ``bindings`` by upstream name. What
    the HTTP gateway admits a request as, from its ``Authorization`` header."""

    grant_id: str
    label: str
    expires_at: datetime | None
    bindings: Mapping[str, Binding] = field(repr=False)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class GrantCache:
    """Token → :class:`Principal`, kept in step with the store; serving what it holds for
    ``grace`` seconds while the store can't be read. ``url`` names the store in errors."""

    def __init__(
        self,
        store: Store,
        signal: ChangeSignal,
        clock: Clock,
        *,
        grace: float = DEFAULT_GRACE_SECONDS,
        url: str = "(the store)",
    ) -> None:
        self._store = store
        self._signal = signal
        self._clock = clock
        self.grace = grace
        self._url = url
        self._generation: int | None = None
        self._revision: int | None = None
        self._principals: dict[str, Principal] = {}
        self._unknown: OrderedDict[str, None] = OrderedDict()
        self._policies: dict[str, CompiledPolicy | None] = {}
        self._used: set[str] = set()
        self._lost: StoreUnavailable | None = None  # the failure that began the outage
        self._lost_at: datetime | None = None
        self._refusing = False  # past the grace, said once per outage
        self._confirming: asyncio.Future[int] | None = None
        self.changes = 0  # grows each time the store changed: lists may have changed too

    async def authenticate(self, token: str) -> Principal | None:
        """The active principal for ``token``; None for a malformed, unknown, revoked or
        expired one. A cache miss reads the store in a worker thread. While the store is
        lost, :class:`StoreUnavailable` for a token not cached, and :class:`StoreLost` for
        any past the grace."""
        principal = self.cached(token)
        if principal is _Miss.MISS:
            try:
                principal = await asyncio.to_thread(self._load, hash_token(token))
            except StoreUnavailable as error:
                self.lose(error)
                raise
        return self._admit(principal)

    def authenticate_sync(self, token: str) -> Principal | None:
        """:meth:`authenticate` for callers without an event loop (the stdio server's setup)."""
        principal = self.cached(token)
        if principal is _Miss.MISS:
            try:
                principal = self._load(hash_token(token))
            except StoreUnavailable as error:
                self.lose(error)
                raise
        return self._admit(principal)

    def cached(self, token: str) -> Principal | _Miss | None:
        """The cached answer for ``token``, or ``_Miss.MISS`` when the store must be asked
        (while the store is lost: :class:`StoreUnavailable` instead)."""
        self._refresh()
        if self._lost is not None:
            self.check_grace()
        if not is_token(token, TokenKind.GRANT):
            return None
        token_hash = hash_token(token)
        if token_hash in self._unknown:
            return None
        principal = self._principals.get(token_hash, _Miss.MISS)
        if principal is _Miss.MISS and self._lost is not None:
            raise self._lost  # the store can't say: refused, not guessed
        return principal

    def is_current(self, principal: Principal) -> bool:
        """Whether ``principal`` has not expired yet (for what outlives one request: a
        revocation is seen by authenticating again)."""
        return not self._expired(principal)

    async def active_grants(self, grant_ids: Collection[str]) -> set[str]:
        """Which of ``grant_ids`` are active now, read from the store in a worker thread: for
        what outlives one request and keeps no token to authenticate again with (a legacy
        session), after the store changed."""
        return await asyncio.to_thread(self._active, set(grant_ids))

    def _active(self, grant_ids: set[str]) -> set[str]:
        now = self._clock.now()
        active: set[str] = set()
        for grant_id in grant_ids:
            try:
                grant = self._store.get_grant(grant_id)
            except NotFound:  # deleted: as gone as revoked
                continue
            if grant.is_active(now):
                active.add(grant_id)
        return active

    def take_used(self) -> set[str]:
        """The ids of grants used since the last call, to record as ``last used`` in a batch."""
        used, self._used = self._used, set()
        return used

    def _admit(self, principal: Principal | _Miss | None) -> Principal | None:
        if not isinstance(principal, Principal) or self._expired(principal):
            return None
        self._used.add(principal.grant_id)
        return principal

    def _expired(self, principal: Principal) -> bool:
        # The clock is asked only about grants that expire: most don't, and every request asks.
        return principal.expires_at is not None and principal.is_expired(self._clock.now())

    @property
    def loaded(self) -> bool:
        """Whether the cache has completed its first load (read the store's revision), so it
        can check tokens against the store (``/readyz``)."""
        return self._revision is not None

    @property
    def outage(self) -> StoreUnavailable | None:
        """The failure that began the current outage; None while the store is reachable."""
        return self._lost

    def lost_for(self) -> float | None:
        """Seconds since the store was lost, or None while it is reachable."""
        if self._lost_at is None:
            return None
        return max(0.0, (self._clock.now() - self._lost_at).total_seconds())

    def refresh(self) -> None:
        """Drop what the store no longer says (also done before every authentication). While
        the store is lost, nothing: :meth:`confirm` finds it back."""
        self._refresh()

    async def confirm(self, timeout: float = CONFIRM_TIMEOUT_SECONDS) -> None:
        """Read the store's revision (in a worker thread, waiting at most ``timeout``): the
        heartbeat that notices an outage the change signal can't (a network that drops
        packets without a word), and notices its end. One read at a time: a read still
        hanging from an earlier call is waited for again, not doubled."""
        if self._confirming is None or self._confirming.done():
            self._confirming = asyncio.ensure_future(asyncio.to_thread(self._store.revision))
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel that comes
            # as the read answers, and serve's bookkeeping, cancelled to stop, ran on.
            async with asyncio.timeout(timeout):
                revision = await asyncio.shield(self._confirming)
        except StoreUnavailable as error:
            self.lose(error)
            return
        except TimeoutError:
            self.lose(StoreUnavailable(self._url, f"no answer within {timeout:g} s"))
            return
        except Exception as error:  # noqa: BLE001 (whatever the read raised, it did not answer)
            self.lose(StoreUnavailable(self._url, type(error).__name__))
            return
        self._found(revision)

    def _refresh(self) -> None:
        if self._lost is not None:
            return  # not on the request path: the store may take seconds to fail each time
        try:
            generation = self._signal.generation()
            if generation == self._generation:
                return
            self._generation = generation
            revision = self._store.revision()
        except StoreUnavailable as error:
            self.lose(error)
            if self._revision is None:
                raise  # nothing was ever read, so nothing can serve (the start fails)
            return
        self._apply(revision)

    def _apply(self, revision: int) -> None:
        if revision != self._revision:
            self._revision = revision
            # New objects rather than cleared ones: a load still running puts what it read
            # in the old ones (see the module's docstring).
            self._principals = {}
            self._unknown = OrderedDict()
            self._policies = {}
            self.changes += 1

    def lose(self, error: StoreUnavailable) -> None:
        """Note that the store could not be read (``error``): an outage begins, unless one
        already has."""
        if self._lost is not None:
            return
        self._lost, self._lost_at = error, self._clock.now()
        self._refusing = False
        log.warning(
            "the store is lost (%s): the grants and policies read before serve for up to"
            " %g s (%s), tokens not seen before are refused",
            error, self.grace, GRACE_SETTING,
        )  # fmt: skip

    def _found(self, revision: int) -> None:
        lost_for = self.lost_for()
        if lost_for is not None:
            self._lost = self._lost_at = None
            log.warning("the store is back after %.1f s: grants are read from it again", lost_for)
        self._apply(revision)

    def check_grace(self) -> None:
        """:class:`StoreLost` when the store has been lost for longer than the grace."""
        lost = self._lost
        if lost is None:
            return
        lost_for = self.lost_for() or 0.0
        if lost_for < self.grace:
            return
        if not self._refusing:
            self._refusing = True
            log.error(
                "the store has been lost for %.0f s, past %s (%g s): refusing every call"
                " until it is back",
                lost_for, GRACE_SETTING, self.grace,
            )  # fmt: skip
        raise StoreLost(lost.url, lost.reason, lost_for, self.grace)

    def _load(self, token_hash: str) -> Principal | None:
        # Into the cache as it was when the load began (see the module's docstring).
        principals, unknown, policies = self._principals, self._unknown, self._policies
        grant = self._store.find_grant_by_token_hash(token_hash)
        if grant is None or not grant.is_active(self._clock.now()):
            unknown[token_hash] = None
            if len(unknown) > UNKNOWN_TOKENS_REMEMBERED:
                unknown.popitem(last=False)
            return None
        bindings = {
            upstream: Binding(name, self._policy(name, policies))
            for upstream, name in grant.bindings.items()
        }
        principal = Principal(grant.id, grant.label, grant.expires_at, bindings)
        principals[token_hash] = principal
        return principal

    def _policy(
        self, name: str, policies: dict[str, CompiledPolicy | None]
    ) -> CompiledPolicy | None:
        if name not in policies:
            try:
                stored = self._store.get_policy(name)
                policies[name] = compile_text(stored.text, name=name, version=stored.version)
            except StoreUnavailable:
                raise  # the store, not the policy: nothing to remember (the load fails)
            except MCPWallError as error:
                # Stored policies were valid when set; one that no longer compiles (or vanished)
                # must not open the wall: its bindings deny everything until it is fixed.
                log.error("policy %s can't be used, its bindings deny every call: %s", name, error)
                policies[name] = None
        return policies[name]

"""Authenticating agents: grant tokens → principals, cached, and never stale.

Every request presents a grant token. Looking it up in the database each time would put a
query on the hot path, so principals (a grant with the compiled current policy of each of its
bindings) are cached by token hash. The cache is dropped whenever the store's revision moves:
a :class:`~mcpwall.ports.changes.ChangeSignal` says cheaply whether it may have, and only then
is the revision read. So a revocation, a rotation or a new policy version takes effect on the
next request, with no restart and no per-request query.

Unknown tokens are remembered too (in a bounded set), so a client retrying a bad token does
not cost a query each time. Expiry is checked on every request against the clock.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mcpwall.control import compile_text
from mcpwall.core.errors import MCPWallError, NotFound
from mcpwall.core.policy import CompiledPolicy
from mcpwall.core.tokens import TokenKind, hash_token, is_token
from mcpwall.ports.changes import ChangeSignal
from mcpwall.ports.clock import Clock
from mcpwall.ports.downstream import Admitted
from mcpwall.ports.store import Store

log = logging.getLogger("mcpwall.gateway")

UNKNOWN_TOKENS_REMEMBERED = 10_000


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
    """Token → :class:`Principal`, kept in step with the store."""

    def __init__(self, store: Store, signal: ChangeSignal, clock: Clock) -> None:
        self._store = store
        self._signal = signal
        self._clock = clock
        self._generation: int | None = None
        self._revision: int | None = None
        self._principals: dict[str, Principal] = {}
        self._unknown: OrderedDict[str, None] = OrderedDict()
        self._policies: dict[str, CompiledPolicy | None] = {}
        self._used: set[str] = set()
        self.changes = 0  # grows each time the store changed: lists may have changed too

    async def authenticate(self, token: str) -> Principal | None:
        """The active principal for ``token``; None for a malformed, unknown, revoked or
        expired one. A cache miss reads the store in a worker thread."""
        principal = self.cached(token)
        if principal is _Miss.MISS:
            principal = await asyncio.to_thread(self._load, hash_token(token))
        return self._admit(principal)

    def authenticate_sync(self, token: str) -> Principal | None:
        """:meth:`authenticate` for callers without an event loop (the stdio server's setup)."""
        principal = self.cached(token)
        if principal is _Miss.MISS:
            principal = self._load(hash_token(token))
        return self._admit(principal)

    def cached(self, token: str) -> Principal | _Miss | None:
        """The cached answer for ``token``, or ``_Miss.MISS`` when the store must be asked."""
        self._refresh()
        if not is_token(token, TokenKind.GRANT):
            return None
        token_hash = hash_token(token)
        if token_hash in self._unknown:
            return None
        return self._principals.get(token_hash, _Miss.MISS)

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

    def refresh(self) -> None:
        """Drop what the store no longer says (also done before every authentication)."""
        self._refresh()

    def _refresh(self) -> None:
        generation = self._signal.generation()
        if generation == self._generation:
            return
        self._generation = generation
        revision = self._store.revision()
        if revision != self._revision:
            self._revision = revision
            self._principals.clear()
            self._unknown.clear()
            self._policies.clear()
            self.changes += 1

    def _load(self, token_hash: str) -> Principal | None:
        grant = self._store.find_grant_by_token_hash(token_hash)
        if grant is None or not grant.is_active(self._clock.now()):
            self._remember_unknown(token_hash)
            return None
        bindings = {
            upstream: Binding(name, self._policy(name)) for upstream, name in grant.bindings.items()
        }
        principal = Principal(grant.id, grant.label, grant.expires_at, bindings)
        self._principals[token_hash] = principal
        return principal

    def _remember_unknown(self, token_hash: str) -> None:
        self._unknown[token_hash] = None
        if len(self._unknown) > UNKNOWN_TOKENS_REMEMBERED:
            self._unknown.popitem(last=False)

    def _policy(self, name: str) -> CompiledPolicy | None:
        if name not in self._policies:
            try:
                stored = self._store.get_policy(name)
                self._policies[name] = compile_text(stored.text, name=name, version=stored.version)
            except MCPWallError as error:
                # Stored policies were valid when set; one that no longer compiles (or vanished)
                # must not open the wall: its bindings deny everything until it is fixed.
                log.error("policy %s can't be used, its bindings deny every call: %s", name, error)
                self._policies[name] = None
        return self._policies[name]

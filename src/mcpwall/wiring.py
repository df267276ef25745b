"""Assembling the data plane from its parts: the one place concrete adapters are chosen.

:func:`build_data_plane` takes an open store and returns everything ``mcpwall serve`` and
``mcpwall stdio`` need: the pipeline, the HTTP handler, the ASGI app, and what to close.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import resource
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mcpwall.adapters.counters import DeferredCounters
from mcpwall.adapters.proxylog import BatchingSink, ProxyLog, open_proxy_log
from mcpwall.adapters.secrets import decode_key, load_secret_key
from mcpwall.adapters.settings import secret_setting
from mcpwall.adapters.store import is_sql_store
from mcpwall.adapters.store.starting import StartingStore
from mcpwall.adapters.upstream import Connector
from mcpwall.core.errors import InvalidValue, StoreUnavailable
from mcpwall.core.logins import LoginTimeouts
from mcpwall.core.mcp import CursorSeal
from mcpwall.gateway.directory import UpstreamDirectory
from mcpwall.gateway.ended import END_CHECK_SECONDS, END_CHECK_SETTING, EndedSessions
from mcpwall.gateway.grants import DEFAULT_GRACE_SECONDS, GRACE_SETTING, GrantCache
from mcpwall.gateway.http import HttpGateway
from mcpwall.gateway.listening import LISTENS_PER_GRANT, LISTENS_PER_GRANT_SETTING, OpenStreams
from mcpwall.gateway.pins import PinGuard
from mcpwall.gateway.pipeline import Pipeline
from mcpwall.gateway.processes import (
    STDIO_PROCESS_WAIT,
    STDIO_PROCESS_WAIT_SETTING,
    STDIO_PROCESSES,
    STDIO_PROCESSES_PER_GRANT,
    STDIO_PROCESSES_PER_GRANT_SETTING,
    STDIO_PROCESSES_SETTING,
    ProcessSlots,
)
from mcpwall.gateway.readiness import ReadinessProbe
from mcpwall.gateway.sealing import (
    LIFETIME_SECONDS,
    LIFETIME_SETTING,
    SESSION_KEYS_SETTING,
    SessionKeyring,
    SessionSealing,
    derived_key,
)
from mcpwall.gateway.sessions import (
    IDLE_SECONDS,
    IDLE_SETTING,
    MAX_SESSIONS,
    MAX_SESSIONS_SETTING,
    SESSIONS_PER_GRANT,
    SESSIONS_PER_GRANT_SETTING,
    SessionTable,
)
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.changes import ChangeSignal, RevisionSignal
from mcpwall.ports.clock import Clock, SystemClock
from mcpwall.ports.counters import CounterStore, MemoryCounters
from mcpwall.ports.ended_sessions import EndedSessionStore, MemoryEndedSessions
from mcpwall.ports.logsink import LogSink
from mcpwall.ports.store import Store

if TYPE_CHECKING:
    from mcpwall.adapters.downstream.connection import Limits
    from mcpwall.adapters.downstream.http import DownstreamApp
    from mcpwall.adapters.store import SQLStore

log = logging.getLogger("mcpwall.gateway")

UPSTREAM_TIMEOUT_VARIABLE = "MCPWALL_UPSTREAM_TIMEOUT"
ALLOWED_ORIGINS_VARIABLE = "MCPWALL_ALLOWED_ORIGINS"
REDIS_URL_VARIABLE = "MCPWALL_REDIS_URL"
LIMITS_FAIL_OPEN_VARIABLE = "MCPWALL_LIMITS_FAIL_OPEN"
DEFAULT_UPSTREAM_TIMEOUT = 60.0
MAX_CONNECTIONS_VARIABLE = "MCPWALL_MAX_CONNECTIONS"
MAX_CONNECTIONS_PER_CLIENT_VARIABLE = "MCPWALL_MAX_CONNECTIONS_PER_CLIENT"
IDLE_TIMEOUT_VARIABLE = "MCPWALL_IDLE_TIMEOUT"
HEAD_TIMEOUT_VARIABLE = "MCPWALL_HEAD_TIMEOUT"
BODY_TIMEOUT_VARIABLE = "MCPWALL_BODY_TIMEOUT"
MAX_GRACE_SECONDS = 86_400.0
# Descriptors kept out of the agents' connection cap whatever the limit: the database, the
# proxy log's files, the listening sockets, the admin API's connections, the event loop's own.
RESERVED_FILES = 64
MAX_CONNECTIONS_DEFAULT_CEILING = 10_000  # past this, one process is the wrong tool anyway
MIN_CONNECTIONS_DEFAULT = 16


@dataclass
class DataPlane:
    """The assembled data plane. Close it with :meth:`aclose` (after the servers stop)."""

    store: Store
    signal: ChangeSignal
    grants: GrantCache
    pool: UpstreamPool
    pipeline: Pipeline
    gateway: HttpGateway
    sink: LogSink
    proxy_log: ProxyLog | None = None  # None when a test passes its own sink

    def app(self, host: str = "127.0.0.1") -> DownstreamApp:
        """The ASGI app for agents, listening on ``host``.

        Bound to loopback, it answers only requests whose ``Host`` is a loopback name (DNS
        rebinding); bound beyond, any ``Host``. Browser origins other than loopback ones are
        refused unless listed in ``MCPWALL_ALLOWED_ORIGINS`` (comma-separated).
        """
        listed = os.environ.get(ALLOWED_ORIGINS_VARIABLE, "")
        origins = frozenset(origin.strip() for origin in listed.split(",") if origin.strip())
        # The HTTP server's side loads here: ``mcpwall stdio`` serves none (issue 16 §3).
        from mcpwall.adapters.downstream.http import LOOPBACK_HOSTS, DownstreamApp

        hosts = LOOPBACK_HOSTS if host in LOOPBACK_HOSTS else None
        return DownstreamApp(self.gateway, allowed_origins=origins, allowed_hosts=hosts)

    async def record_last_used(self) -> None:
        """Write "last used" for the grants used since the last call, in one batch."""
        used = self.grants.take_used()
        if used:
            await asyncio.to_thread(_touch_all, self.store, used)

    async def aclose(self) -> None:
        await self.pool.aclose()
        try:
            await self.record_last_used()
        except StoreUnavailable as error:  # stopping during an outage: the rows matter more
            log.warning("last-used times not written, the store is unavailable: %s", error)
        await self.sink.aclose()
        await self.pipeline.counters.aclose()
        self.signal.close()


def upstream_timeout(environ: Mapping[str, str]) -> float:
    """``MCPWALL_UPSTREAM_TIMEOUT`` in seconds (default 60): how long one upstream call may take."""
    return number_setting(
        environ, UPSTREAM_TIMEOUT_VARIABLE, DEFAULT_UPSTREAM_TIMEOUT, maximum=86_400
    )


def store_grace(environ: Mapping[str, str]) -> float:
    """``MCPWALL_STORE_GRACE`` in seconds (default 300): how long the data plane serves the
    grants and policies it read last while its database can't be reached; 0 refuses at once."""
    text = environ.get(GRACE_SETTING)
    if text is None:
        return DEFAULT_GRACE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_GRACE_SECONDS:  # NaN fails this too
        raise InvalidValue(
            GRACE_SETTING, text, f"a number of seconds from 0 to {MAX_GRACE_SECONDS:g}"
        )
    return value


def raise_open_files_limit() -> int:
    """Raise the process's soft limit on open files to its hard limit, as servers commonly
    do at start (the soft limit is often 1,024 where the hard one is far higher), and return
    the limit in force. Where the system refuses, the soft limit stays."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft


def server_limits(environ: Mapping[str, str], open_files: int) -> Limits:
    """The data plane server's deadlines and connection caps, from the environment.

    ``MCPWALL_MAX_CONNECTIONS`` (at most ``open_files``, the process's limit on open files)
    defaults to half of what that limit leaves after :data:`RESERVED_FILES`, the other half
    being for upstream processes and connections, between :data:`MIN_CONNECTIONS_DEFAULT`
    and :data:`MAX_CONNECTIONS_DEFAULT_CEILING`; ``MCPWALL_MAX_CONNECTIONS_PER_CLIENT``
    defaults to half of it. ``MCPWALL_IDLE_TIMEOUT``, ``MCPWALL_HEAD_TIMEOUT`` and
    ``MCPWALL_BODY_TIMEOUT`` are deadlines in seconds (defaults: :class:`Limits`').
    """
    default = (open_files - RESERVED_FILES) // 2
    default = max(MIN_CONNECTIONS_DEFAULT, min(MAX_CONNECTIONS_DEFAULT_CEILING, default))
    total = count_setting(environ, MAX_CONNECTIONS_VARIABLE, default, maximum=open_files)
    per_client = count_setting(
        environ, MAX_CONNECTIONS_PER_CLIENT_VARIABLE, max(1, total // 2), maximum=total
    )
    from mcpwall.adapters.downstream.connection import Limits  # the HTTP server's, on use

    defaults = Limits()
    return Limits(
        idle_timeout=_seconds(environ, IDLE_TIMEOUT_VARIABLE, defaults.idle_timeout),
        head_timeout=_seconds(environ, HEAD_TIMEOUT_VARIABLE, defaults.head_timeout),
        body_timeout=_seconds(environ, BODY_TIMEOUT_VARIABLE, defaults.body_timeout),
        max_connections=total,
        max_connections_per_client=per_client,
    )


def _seconds(environ: Mapping[str, str], variable: str, default: float) -> float:
    return number_setting(environ, variable, default, maximum=3_600)


def number_setting(
    environ: Mapping[str, str],
    variable: str,
    default: float,
    *,
    maximum: float,
    integer: bool = False,
) -> float:
    """A positive number from ``environ[variable]`` (``default`` when unset), at most
    ``maximum``; a whole number when ``integer``. :class:`InvalidValue` names the variable,
    what it held and what is expected, so a typo stops the process rather than a limit
    silently falling back."""
    text = environ.get(variable)
    if text is None:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = -1
    if not 0 < value <= maximum:
        kind = "a whole number" if integer else "a number of seconds"
        raise InvalidValue(variable, text, f"{kind} above 0 and at most {maximum:g}")
    return value


DASHBOARD_IDLE_SETTING = "MCPWALL_DASHBOARD_IDLE"
DASHBOARD_SESSION_SETTING = "MCPWALL_DASHBOARD_SESSION"


def login_timeouts(environ: Mapping[str, str]) -> LoginTimeouts:
    """How long a dashboard login lasts: idle, and at most (seconds; 30 min and 12 h)."""
    default = LoginTimeouts()
    idle = number_setting(
        environ, DASHBOARD_IDLE_SETTING, default.idle.total_seconds(), maximum=86_400
    )
    absolute = number_setting(
        environ, DASHBOARD_SESSION_SETTING, default.absolute.total_seconds(), maximum=30 * 86_400
    )
    return LoginTimeouts(timedelta(seconds=idle), timedelta(seconds=absolute))


def count_setting(environ: Mapping[str, str], variable: str, default: int, *, maximum: int) -> int:
    """A positive whole number from ``environ[variable]`` (a cap: sessions, connections…)."""
    return int(number_setting(environ, variable, default, maximum=maximum, integer=True))


def open_counters(store: Store, environ: Mapping[str, str]) -> CounterStore:
    """Where rate-limit counters live: on Redis with ``MCPWALL_REDIS_URL`` (shared by every
    replica; or ``MCPWALL_REDIS_URL_FILE``), else in the store's SQL database (kept across
    restarts), else in memory."""
    redis = secret_setting(environ, REDIS_URL_VARIABLE)
    if redis is not None:
        from mcpwall.adapters.counters.redis import RedisCounters  # the Redis client, on use

        return RedisCounters.from_url(redis.value)
    if isinstance(store, StartingStore):  # opened with the SQL store, on first use
        return DeferredCounters(lambda: _sql_counters(store.full()), store.url)
    if is_sql_store(store):
        return _sql_counters(store)
    return MemoryCounters()


def _sql_counters(store: SQLStore) -> CounterStore:
    from mcpwall.adapters.counters.sql import SQLCounters  # SQLAlchemy, with the SQL store

    return SQLCounters.open(store.engine.url, store.url)


def limits_fail_open(environ: Mapping[str, str]) -> bool:
    """``MCPWALL_LIMITS_FAIL_OPEN``: whether calls with limits go through unchecked (and
    marked in the proxy log) while the counters can't be reached. Off by default."""
    text = environ.get(LIMITS_FAIL_OPEN_VARIABLE, "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidValue(LIMITS_FAIL_OPEN_VARIABLE, text, "1 (fail open) or 0 (fail closed)")


def cursor_key(home: Path) -> bytes:
    """The key that seals pagination cursors, derived from the secret key, so that every
    replica sharing the store (and so the key) accepts the others' cursors."""
    secret = load_secret_key(home).key
    return hmac.new(secret, b"mcpwall pagination cursors v1", hashlib.sha256).digest()


def session_keyring(home: Path, environ: Mapping[str, str]) -> SessionKeyring:
    """The keys legacy session ids are sealed with: ``MCPWALL_SESSION_KEYS`` (comma-separated,
    the current key first, then those still accepted while rotating), else one derived from
    the secret key. Every replica needs the same ones (see docs/operations.md)."""
    listed = [text.strip() for text in environ.get(SESSION_KEYS_SETTING, "").split(",")]
    texts = [text for text in listed if text]
    if not texts:
        return SessionKeyring([derived_key(load_secret_key(home, environ).key)])
    keys = [
        decode_key(text, f"{SESSION_KEYS_SETTING} (key {n})") for n, text in enumerate(texts, 1)
    ]
    return SessionKeyring(keys)


def session_sealing(
    store: Store, home: Path, environ: Mapping[str, str], clock: Clock
) -> SessionSealing:
    """Sealed legacy sessions: the keyring, how long an id stays good
    (``MCPWALL_SESSION_LIFETIME``, seconds, default a day), and the ended sessions, kept in
    the store's database when it has one (shared by replicas), checked at most every
    ``MCPWALL_SESSION_END_CHECK`` seconds (default 1)."""
    lifetime = number_setting(environ, LIFETIME_SETTING, LIFETIME_SECONDS, maximum=30 * 86_400)
    check = number_setting(environ, END_CHECK_SETTING, END_CHECK_SECONDS, maximum=3_600)
    kept = store if isinstance(store, EndedSessionStore) else MemoryEndedSessions()
    ended = EndedSessions(kept, clock, check_every=check)
    return SessionSealing(session_keyring(home, environ), ended, clock, lifetime)


def build_data_plane(
    store: Store,
    home: Path,
    *,
    clock: Clock | None = None,
    connector: Connector | None = None,
    sink: LogSink | None = None,
    counters: CounterStore | None = None,
    log_console: BinaryIO | None = None,
    metrics: bool = True,
) -> DataPlane:
    """The data plane over ``store``. ``log_console`` is where ``MCPWALL_LOG_STDOUT`` writes;
    ``metrics`` False keeps no Prometheus metrics (``mcpwall stdio`` serves none)."""
    clock = clock or SystemClock()
    fail_open = limits_fail_open(os.environ)
    counters = counters or open_counters(store, os.environ)
    signal: ChangeSignal
    if isinstance(store, StartingStore) or is_sql_store(store):
        signal, url = store.change_signal(), store.url
    else:
        signal, url = RevisionSignal(store), "(in memory)"
    grace = store_grace(os.environ)
    grants = GrantCache(store, signal, clock, grace=grace, url=url)
    held = bounds(os.environ)
    pins = PinGuard(store, lambda: grants.changes, store_lost=lambda: grants.outage is not None)
    pool = UpstreamPool(
        UpstreamDirectory(store, grants).lookup,
        connector or Connector(),
        timeout=upstream_timeout(os.environ),
        processes=held.process_slots(),
        fingerprints=pins.fingerprints,
        on_listed=pins.remember_listing,
    )
    proxy_log = None
    if sink is None:
        proxy_log = open_proxy_log(
            store, os.environ, clock=clock, known_tool=pool.has_listed, console=log_console,
            metrics=metrics,
        )  # fmt: skip
        sink = proxy_log.sink
        if proxy_log.metrics is not None:
            proxy_log.metrics.watch_store(grants.lost_for)
    seal = CursorSeal(cursor_key(home))
    pipeline = Pipeline(pool, counters, sink, clock, seal, limits_fail_open=fail_open, pins=pins)
    probe = ReadinessProbe(store, grants, counters, limits_fail_open=fail_open)
    gateway = HttpGateway(
        grants,
        pipeline,
        pool,
        sessions=held.session_table(),
        listens=held.open_streams(),
        readiness=probe,
        log_full=None if proxy_log is None else _is_full(proxy_log.sink),
        sealing=session_sealing(store, home, os.environ, clock),
    )
    return DataPlane(store, signal, grants, pool, pipeline, gateway, sink, proxy_log)


@dataclass(frozen=True)
class Bounds:
    """What the data plane holds open at most (see THREAT_MODEL.md): legacy sessions per
    grant and in all, their idle time, listen streams per grant, stdio upstream processes in
    all and per grant, and how long an opener waits for a process."""

    sessions_per_grant: int = SESSIONS_PER_GRANT
    max_sessions: int = MAX_SESSIONS
    session_idle_s: float = IDLE_SECONDS
    listens_per_grant: int = LISTENS_PER_GRANT
    stdio_processes: int = STDIO_PROCESSES
    stdio_processes_per_grant: int = STDIO_PROCESSES_PER_GRANT
    stdio_process_wait_s: float = STDIO_PROCESS_WAIT

    def session_table(self) -> SessionTable:
        return SessionTable(
            idle_seconds=self.session_idle_s,
            limit=self.max_sessions,
            per_grant=self.sessions_per_grant,
        )

    def open_streams(self) -> OpenStreams:
        return OpenStreams(self.listens_per_grant)

    def process_slots(self) -> ProcessSlots:
        return ProcessSlots(
            self.stdio_processes, self.stdio_processes_per_grant, wait=self.stdio_process_wait_s
        )


def bounds(environ: Mapping[str, str]) -> Bounds:
    """The :class:`Bounds` the environment sets. A grant's share must stay below the whole
    (else one grant could take it all): a share left unset follows a lowered whole down, one
    set at or above it stops the start."""
    max_sessions = count_setting(environ, MAX_SESSIONS_SETTING, MAX_SESSIONS, maximum=1_000_000)
    processes = count_setting(environ, STDIO_PROCESSES_SETTING, STDIO_PROCESSES, maximum=10_000)
    return Bounds(
        sessions_per_grant=_share(
            environ, SESSIONS_PER_GRANT_SETTING, SESSIONS_PER_GRANT, MAX_SESSIONS_SETTING,
            max_sessions,
        ),
        max_sessions=max_sessions,
        session_idle_s=number_setting(environ, IDLE_SETTING, IDLE_SECONDS, maximum=86_400),
        listens_per_grant=count_setting(
            environ, LISTENS_PER_GRANT_SETTING, LISTENS_PER_GRANT, maximum=10_000
        ),
        stdio_processes=processes,
        stdio_processes_per_grant=_share(
            environ, STDIO_PROCESSES_PER_GRANT_SETTING, STDIO_PROCESSES_PER_GRANT,
            STDIO_PROCESSES_SETTING, processes,
        ),
        stdio_process_wait_s=number_setting(
            environ, STDIO_PROCESS_WAIT_SETTING, STDIO_PROCESS_WAIT, maximum=3_600
        ),
    )  # fmt: skip


def _share(
    environ: Mapping[str, str], variable: str, default: int, whole_variable: str, whole: int
) -> int:
    """One grant's share of ``whole``: ``environ[variable]``, else ``default`` or a quarter
    of ``whole`` if that is less; below ``whole`` either way."""
    if whole < 2:
        raise InvalidValue(
            whole_variable, str(whole),
            f"a whole number of at least 2: one grant's share ({variable}) must stay below it",
        )  # fmt: skip
    fallback = max(1, min(default, whole // 4))
    share = count_setting(environ, variable, fallback, maximum=1_000_000)
    if share >= whole:
        raise InvalidValue(
            variable, str(share),
            f"a whole number below {whole_variable} ({whole}): one grant must not hold all",
        )  # fmt: skip
    return share


def _is_full(sink: BatchingSink) -> Callable[[], bool]:
    return lambda: sink.full


def _touch_all(store: Store, grant_ids: set[str]) -> None:
    for grant_id in grant_ids:
        store.touch_grant(grant_id)

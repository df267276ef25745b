"""``mcpwall serve``: run the data plane and the admin API until stopped.

Both servers run in one process and one event loop: agents on ``--host:--port`` (``/mcp``,
``/mcp/{upstream}``, ``/healthz``, ``/readyz``), administrators on ``--host:--admin-port``
(``/api``). SIGTERM or Ctrl-C stops both: requests in flight finish, upstream sessions close
(stdio servers get their stdin closed, then SIGTERM), last-used times are written, and the
store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from mcpwall.adapters.downstream.server import HttpServer
from mcpwall.adapters.upstream import Connector
from mcpwall.admin import create_admin_app
from mcpwall.cli.context import control, home, reports_errors
from mcpwall.cli.output import stderr
from mcpwall.control import ControlPlane
from mcpwall.core.errors import StoreUnavailable
from mcpwall.dashboard.tail import Tails
from mcpwall.gateway.probe import Prober
from mcpwall.ports.changes import ChangeSignal, PushedSignal
from mcpwall.wiring import (
    DataPlane,
    build_data_plane,
    login_timeouts,
    raise_open_files_limit,
    server_limits,
)

log = logging.getLogger("mcpwall.gateway")

PORT = click.IntRange(1, 65535)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LAST_USED_EVERY_SECONDS = 30.0
ANNOUNCE_EVERY_SECONDS = 1.0
# How long the admin server lets requests in flight finish at a stop, as the data plane does
# (Limits.shutdown_timeout): then uvicorn cancels them, rather than waiting for ever.
ADMIN_DRAIN_SECONDS = 10


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", type=PORT, default=8700, show_default=True, help="The data plane's port (/mcp)."
)
@click.option(
    "--admin-port", type=PORT, default=8701, show_default=True, help="The admin API's port (/api)."
)
@reports_errors
def serve(host: str, port: int, admin_port: int) -> None:
    """Serve agents on --port and the admin API on --admin-port until SIGTERM or Ctrl-C.

    The store is MCPWALL_HOME's SQLite database, or MCPWALL_DATABASE_URL. Bind beyond
    127.0.0.1 only behind TLS and a firewall you trust: tokens travel in headers.
    """
    if port == admin_port:
        raise click.BadParameter("must differ from --port", param_hint="--admin-port")
    limits = server_limits(os.environ, raise_open_files_limit())
    plane = control()
    plane.login_timeouts = login_timeouts(os.environ)  # only `serve` has a dashboard
    data_plane = build_data_plane(plane.store, home(), clock=plane.clock)
    data_plane.grants.refresh()  # the first load, before /readyz can say ready
    agents = _Agents(HttpServer(data_plane.app(host), limits), host, port)
    tails = Tails()
    admin = _Server(_admin_config(_admin_app(plane, data_plane, tails), host, admin_port))
    stderr.print(f"serving agents on http://{_netloc(host, port)}/mcp")
    stderr.print(f"serving the admin API on http://{_netloc(host, admin_port)}/api")
    stderr.print(f"serving the dashboard on http://{_netloc(host, admin_port)}/")
    _freeze_startup_objects()
    with asyncio.Runner(loop_factory=_fast_loop()) as runner:
        runner.run(_run(agents, admin, data_plane, tails))


def _freeze_startup_objects() -> None:
    """Keep what exists at startup (imported modules, the store's engine) out of the cyclic
    garbage collector's full passes, which a busy gateway's short-lived objects set off every
    few seconds: each went over the hundred thousand objects of the imports while every agent
    in flight waited (``bench/gateway.py``: the deny path's p99 was 31 ms without this, 5.7 ms
    with it). These objects live as long as the process anyway."""
    gc.collect()
    gc.freeze()


def _fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (``uvicorn[standard]`` brings it), as
    ``uvicorn.run`` would choose; the servers are started here, so the choice is ours.
    Measured with ``bench/gateway.py``: about a fifth more refused calls per second (8,400 to
    10,000 on one core) and a third of the p99 latency, against asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _admin_app(plane: ControlPlane, data_plane: DataPlane, tails: Tails) -> Starlette:
    """The admin API and the dashboard, reading this data plane's proxy log, metrics and
    rate-limit counters; the dashboard's upstream checks count their stdio processes against
    the data plane's bound."""
    prober = Prober(Connector(), clock=plane.clock, processes=data_plane.pool.processes)
    log = data_plane.proxy_log
    counters = data_plane.pipeline.counters
    if log is None:
        return create_admin_app(plane, tails=tails, prober=prober, counters=counters)
    return create_admin_app(
        plane,
        proxy_log=log.reader,
        metrics=log.metrics,
        tails=tails,
        prober=prober,
        counters=counters,
    )


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`_run`, which stops every server."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Agents:
    """The data plane's server (our own, not uvicorn: see :mod:`mcpwall.adapters.downstream.
    server`) with where it listens and the event that stops it."""

    def __init__(self, server: HttpServer, host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.port = port
        self.stop = asyncio.Event()

    async def serve(self) -> None:
        try:
            await self.server.serve(self.host, self.port, self.stop)
        except OSError as error:  # could not bind: end as uvicorn does on the admin port
            stderr.print(f"error: cannot serve agents on {_netloc(self.host, self.port)}: {error}")
            raise SystemExit(1) from error


async def _run(agents: _Agents, admin: _Server, data_plane: DataPlane, tails: Tails) -> None:
    loop = asyncio.get_running_loop()

    stopping = asyncio.Event()

    def stop() -> None:
        # The servers first: whatever fails after this, they stop.
        stopping.set()
        agents.stop.set()
        admin.should_exit = True
        data_plane.gateway.shutdown()  # open listen streams end, so the servers can stop
        tails.close()  # and the dashboard's live tails

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    bookkeeping = asyncio.ensure_future(_bookkeeping(data_plane, stopping))
    try:
        await asyncio.gather(agents.serve(), admin.serve())
    finally:
        stopping.set()
        bookkeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bookkeeping
        await data_plane.aclose()
        stderr.print("stopped")


async def _bookkeeping(data_plane: DataPlane, stopping: asyncio.Event) -> None:
    """Each second, and at once when the store says it changed (PostgreSQL's ``NOTIFY``):
    confirm the store answers (the grant cache's heartbeat: it notices an outage and its end,
    and says both), announce store changes to open sessions and streams; write last-used
    times at times.

    While the store is lost this waits for it (the grant cache serves what it read, for its
    grace); a write that fails anyway skips a turn, not the rest of the process's life: this
    task would otherwise end with the error, and ``serve`` exit 2 at stop.

    ``serve`` stops it with a cancel, and waits for it: it also ends at its next turn once
    ``stopping`` is set, so that a cancel lost on the way (``asyncio.wait_for`` lost one on
    Python 3.11 when the store answered at that moment) can't keep ``serve`` from exiting.
    """
    changed = _woken_by(data_plane.signal)
    next_last_used = time.monotonic() + LAST_USED_EVERY_SECONDS
    try:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ANNOUNCE_EVERY_SECONDS):
                    await changed.wait()
            changed.clear()
            await data_plane.grants.confirm()
            if data_plane.grants.outage is not None or stopping.is_set():
                continue
            try:
                data_plane.grants.refresh()
                await data_plane.gateway.announce_changes()
                if time.monotonic() >= next_last_used:
                    next_last_used = time.monotonic() + LAST_USED_EVERY_SECONDS
                    await data_plane.record_last_used()
            except StoreUnavailable as error:
                data_plane.grants.lose(error)
    finally:
        if isinstance(data_plane.signal, PushedSignal):
            data_plane.signal.on_change(None)


def _woken_by(changes: ChangeSignal) -> asyncio.Event:
    """An event set whenever ``changes`` moves, if it says when (else never set)."""
    changed = asyncio.Event()
    if isinstance(changes, PushedSignal):
        loop = asyncio.get_running_loop()

        def wake() -> None:  # in the signal's thread
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing to wake
                loop.call_soon_threadsafe(changed.set)

        changes.on_change(wake)
    return changed


def _config(app: Any, host: str, port: int, *, proxy_headers: bool = False) -> uvicorn.Config:
    # No access log: the two servers share uvicorn's loggers, the data plane's record of every
    # request is the proxy log, and the admin API's is the audit trail. No X-Forwarded-* on the
    # data plane: nothing there uses the client's address or scheme, and the middleware is a
    # cost on every request.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        server_header=False,
        access_log=False,
        proxy_headers=proxy_headers,
        log_config=_log_config(),
        timeout_graceful_shutdown=ADMIN_DRAIN_SECONDS,
    )


def _admin_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """The admin server's: as the data plane's, but trusting ``X-Forwarded-Proto`` (and the
    client address) from the proxies ``FORWARDED_ALLOW_IPS`` names (default: 127.0.0.1), so
    that behind a TLS-terminating proxy the dashboard knows it is served over HTTPS and
    sets its session cookie ``Secure`` with the ``__Host-`` prefix."""
    return _config(app, host, port, proxy_headers=True)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with mcpwall's own loggers written the same way."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mcpwall"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

"""``mcpwall serve``: run the gateway's servers until stopped.

For now that is the admin API on ``--host:--admin-port``; the data plane (``/mcp``) on
``--port`` comes with the gateway.
"""

from __future__ import annotations

import copy
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from mcpwall.admin import create_admin_app
from mcpwall.cli.context import control, reports_errors
from mcpwall.cli.output import stderr

PORT = click.IntRange(1, 65535)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=PORT,
    default=8700,
    show_default=True,
    help="The data plane's port (/mcp). Not served yet: the data plane arrives with the gateway.",
)
@click.option(
    "--admin-port", type=PORT, default=8701, show_default=True, help="The admin API's port (/api)."
)
@reports_errors
def serve(host: str, port: int, admin_port: int) -> None:
    """Serve the admin API (/api, described at /api/openapi.json) until SIGTERM or Ctrl-C.

    The data plane on --port is not served yet. The store is MCPWALL_HOME's SQLite database,
    or MCPWALL_DATABASE_URL. A stop lets requests in flight finish, then closes the store.
    """
    if port == admin_port:
        raise click.BadParameter("must differ from --port", param_hint="--admin-port")
    app = create_admin_app(control())
    config = uvicorn.Config(
        app,
        host=host,
        port=admin_port,
        lifespan="off",
        server_header=False,
        log_config=_log_config(),
    )
    stderr.print(f"starting the admin API on http://{_netloc(host, admin_port)}/api")
    with _stop_signals_absorbed():
        uvicorn.Server(config).run()


@contextmanager
def _stop_signals_absorbed() -> Iterator[None]:
    """Run a uvicorn server that stops cleanly on SIGTERM and SIGINT, and return normally.

    uvicorn handles the signal (finishing requests in flight), then raises it again so that
    its default action happens. That action would kill the process before the store closes,
    or turn a clean stop into "Aborted!": the signal has been served, so absorb it here.
    """
    previous = {sig: signal.signal(sig, _absorb) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _absorb(_signal: int, _frame: object) -> None:
    pass


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with mcpwall's own loggers written the same way."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mcpwall"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

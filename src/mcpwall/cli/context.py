"""Where CLI commands get their state: ``MCPWALL_HOME``, the store, the control plane.

The store is opened on first use, once per command, and closed when the command ends. Every
mcpwall error becomes a clear message on stderr and exit status 2, instead of a traceback.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from mcpwall.adapters.settings import secret_setting
from mcpwall.cli.output import fail
from mcpwall.core.errors import MCPWallError, PolicyError, StoreUnavailable

if TYPE_CHECKING:
    from mcpwall.control import ControlPlane

DEFAULT_HOME = ".mcpwall"
DATABASE_URL_VARIABLE = "MCPWALL_DATABASE_URL"
STORE_HINT = (
    "Check that the database server is running and accepts connections at that host and "
    "port (firewall, network policy), and that MCPWALL_DATABASE_URL names the right user, "
    "password and database."
)

P = ParamSpec("P")
R = TypeVar("R")


def home() -> Path:
    """``MCPWALL_HOME``, default ``./.mcpwall``."""
    return Path(os.environ.get("MCPWALL_HOME") or DEFAULT_HOME)


def actor() -> str:
    """Who the audit trail names for a change made from this command line."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid-{os.getuid()}"
    return f"cli:{user}"


def control() -> ControlPlane:
    """The control plane over the configured store, opened once per command."""
    # The control plane and the database driver load on first use: ``mcpwall stdio`` spawns
    # its upstream before it opens the store (issue 16 §3).
    from mcpwall.control import ControlPlane

    context = click.get_current_context()
    root = context.find_root()
    plane = root.meta.get("mcpwall.control")
    if plane is None:
        from mcpwall.adapters.store import open_store

        with reported_errors():
            database = secret_setting(os.environ, DATABASE_URL_VARIABLE)  # or its _FILE
            try:
                store = open_store(database.value if database else None, home())
            except StoreUnavailable as error:
                fail(f"{error}\n{STORE_HINT}")
        root.call_on_close(store.close)
        plane = root.meta["mcpwall.control"] = ControlPlane(store)
    assert isinstance(plane, ControlPlane)
    return plane


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn an mcpwall error into ``error: …`` on stderr and exit status 2."""
    try:
        yield
    except PolicyError:
        raise  # commands print every policy problem themselves
    except MCPWallError as exc:
        fail(str(exc))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so that mcpwall errors end it with a message, not a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with reported_errors():
            return command(*args, **kwargs)

    return run

"""Commands that need an optional extra say which, instead of failing on an import.

``mcpwall demo`` and ``mcpwall sandbox`` run the official MCP SDK (its server for the sandbox,
its client for the demo's agent), which the gateway itself does not need: it ships as the
``demo`` extra, pinned to the version they are tested with.
"""

from __future__ import annotations

from importlib import metadata

from mcpwall.cli.output import fail

SDK = "mcp"
EXTRA = "demo"
INSTALL = 'pip install "mcpwall[demo]" (or, in a checkout, make demo)'


def pinned_sdk_version() -> str | None:
    """The SDK version the installed mcpwall's ``demo`` extra pins, if its metadata says."""
    try:
        requirements = metadata.requires("mcpwall") or []
    except metadata.PackageNotFoundError:  # running from a source tree that isn't installed
        return None
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        name, equals, version = spec.partition("==")
        if name.strip() == SDK and equals and f"extra == '{EXTRA}'" in marker.replace('"', "'"):
            return version.strip()
    return None


def require_demo_extra(command: str) -> None:
    """Exit 2, saying how to install the ``demo`` extra, unless its SDK is installed as pinned."""
    pinned = pinned_sdk_version()
    wanted = f"{SDK}=={pinned}" if pinned else SDK
    try:
        found = metadata.version(SDK)
    except metadata.PackageNotFoundError:
        fail(f'mcpwall {command} needs the MCP SDK ({wanted}) from the "{EXTRA}" extra: {INSTALL}')
    if pinned is not None and found != pinned:
        fail(
            f'mcpwall {command} needs {wanted} from the "{EXTRA}" extra, found {SDK} {found}: '
            f"{INSTALL}"
        )

"""``mcpwall healthcheck``: whether the local data plane is ready, for container health checks.

It GETs ``/readyz`` (default ``http://127.0.0.1:8700/readyz``) with a short timeout and exits
0 when the answer is 200, else 1, printing the checks that failed. Started often and by
machines, it imports only the standard library and click: no HTTP client, no store.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import NoReturn
from urllib.parse import urlsplit

import click

DEFAULT_URL = "http://127.0.0.1:8700/readyz"
TIMEOUT_SECONDS = 5.0


@click.command()
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    help="The data plane's /readyz to ask.",
)
def healthcheck(url: str) -> None:
    """Exit 0 when the data plane at --url is ready to serve agents, 1 otherwise.

    For a container's HEALTHCHECK: it GETs /readyz with a 5 s timeout and prints the checks
    that failed (the store, the grants, the rate-limit counters).
    """
    shown = _shown(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise click.BadParameter(f"{shown} is not an http:// or https:// URL", param_hint="--url")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        _fail(f"not ready: nothing answered at {shown} ({reason})")
    if status == 200:
        click.echo(f"ready ({shown})")
        return
    failed = _failed_checks(body)
    lines = [f"not ready: {shown} answered {status}", *failed]
    _fail("\n".join(lines))


def _failed_checks(body: bytes) -> list[str]:
    """``  NAME: DETAIL`` for each failed check in a ``/readyz`` answer (none if unreadable)."""
    try:
        checks = json.loads(body).get("checks", {})
        return [
            f"  {name}: {check.get('detail', '')}"
            for name, check in checks.items()
            if not check.get("ok", False)
        ]
    except (ValueError, AttributeError):
        return []


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    raise SystemExit(1)


def _shown(url: str) -> str:
    """``url`` without any user or password in it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the URL given"
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()

"""Cross-site request forgery: a state-changing request must come from the dashboard itself.

Two independent checks, both required (OWASP's defence in depth):

1. **Where it came from.** A browser says so in ``Sec-Fetch-Site`` (only ``same-origin``
   passes) and in ``Origin`` (it must be this server's own origin). A request with neither
   header did not come from a current browser page and is refused: scripts use the API.
2. **A token only the page knows.** Every page carries its session's CSRF token (an HMAC of
   the session secret, :func:`mcpwall.core.logins.csrf_token`); ``app.js`` sends it as
   ``X-CSRF-Token`` on every htmx request and forms carry it as ``csrf_token``.

Login has no session yet, so it gets the first check only; that is what stops a page
elsewhere from logging a browser in under someone else's token.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import HTTPConnection

from mcpwall.core.logins import csrf_matches

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_HEADER = "x-csrf-token"  # noqa: S105 (a header name, not a secret)
TOKEN_FIELD = "csrf_token"  # noqa: S105 (a form field name)


class Forbidden(Exception):  # noqa: N818 (named for the answer it becomes, like Starlette's)
    """A request the dashboard refuses with 403; the message says why, for the page."""


def own_origin(connection: HTTPConnection) -> str:
    """This server's origin as the browser sees it: scheme and ``Host``."""
    return f"{connection.url.scheme}://{connection.headers.get('host', '')}"


def check_origin(connection: HTTPConnection) -> None:
    """Refuse a request a browser did not send from one of the dashboard's own pages."""
    site = connection.headers.get("sec-fetch-site")
    origin = connection.headers.get("origin")
    if site is None and origin is None:
        raise Forbidden("refused: the request says neither where it came from nor its origin")
    if site is not None and site != "same-origin":
        raise Forbidden(f"refused: a {site} request may not change anything here")
    if origin is not None and origin != own_origin(connection):
        raise Forbidden("refused: the request came from another origin")


def check_token(connection: HTTPConnection, secret: str, form: Mapping[str, str]) -> None:
    """Refuse a request without its session's CSRF token (header or form field)."""
    given = connection.headers.get(TOKEN_HEADER) or form.get(TOKEN_FIELD, "")
    if not csrf_matches(secret, given):
        raise Forbidden("refused: the form is out of date or not from this page; reload it")

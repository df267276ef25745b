"""Who is looking at the dashboard: the session cookie, and what it lets them do.

The cookie holds the session's secret and nothing else. Over HTTPS it is named with the
``__Host-`` prefix (the browser then insists on ``Secure``, ``Path=/`` and no ``Domain``, so
no other host or path can set or read it); on plain HTTP, which browsers do not let carry a
``Secure`` cookie except to ``localhost``, it is ``mcpwall_session``: still HttpOnly and
SameSite=Strict, but anyone on the network path could read it, which is why the admin port
belongs on loopback or behind TLS. Whether a request came over HTTPS is what uvicorn says,
which honours ``X-Forwarded-Proto`` from the proxies ``FORWARDED_ALLOW_IPS`` trusts.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.responses import Response

from mcpwall.control import ControlPlane, LoggedIn, admin_actor
from mcpwall.core.logins import csrf_token
from mcpwall.core.registry import Role

SECURE_COOKIE = "__Host-mcpwall_session"
PLAIN_COOKIE = "mcpwall_session"


@dataclass(frozen=True, slots=True)
class Visitor:
    """A logged-in person: their session's secret (from the cookie) and admin token."""

    login: LoggedIn
    secret: str

    @property
    def role(self) -> Role:
        return self.login.admin_token.role

    @property
    def name(self) -> str:
        """How pages name them: the token's label, or its id."""
        token = self.login.admin_token
        return token.label or token.id

    @property
    def actor(self) -> str:
        """How the audit trail names a change they make: the same as through the API."""
        return admin_actor(self.login.admin_token)

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.secret)

    def may(self, role: Role | str) -> bool:
        """Whether their role includes ``role`` (what a page offers them, and allows)."""
        return self.role.includes(Role(role))


def cookie_name(connection: HTTPConnection) -> str:
    return SECURE_COOKIE if connection.url.scheme == "https" else PLAIN_COOKIE


def session_secret(connection: HTTPConnection) -> str | None:
    """The session secret the request's cookie carries, if any."""
    secret = connection.cookies.get(cookie_name(connection))
    # A secret is 43 URL-safe characters; anything else is not worth a database lookup.
    if secret is None or len(secret) != 43 or not secret.isascii():
        return None
    return secret


def visitor_of(control: ControlPlane, connection: HTTPConnection) -> Visitor | None:
    """The logged-in visitor making this request, or None (synchronous: the store is)."""
    secret = session_secret(connection)
    if secret is None:
        return None
    login = control.logged_in(secret)
    return Visitor(login, secret) if login is not None else None


def set_session_cookie(
    response: Response, connection: HTTPConnection, secret: str, max_age: int
) -> None:
    secure = connection.url.scheme == "https"
    response.set_cookie(
        cookie_name(connection),
        secret,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, connection: HTTPConnection) -> None:
    secure = connection.url.scheme == "https"
    response.delete_cookie(
        cookie_name(connection), path="/", secure=secure, httponly=True, samesite="strict"
    )

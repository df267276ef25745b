"""Logging in with an admin token, and out.

Login exchanges the token for a server-side session (``ControlPlane.log_in``) and sets the
session cookie; the token itself is kept nowhere, not even in the browser. Logout ends the
session in the store, so every replica refuses it at once, and clears the cookie.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcpwall.control import ControlPlane
from mcpwall.core.errors import MCPWallError
from mcpwall.dashboard.csrf import Forbidden, check_origin, check_token
from mcpwall.dashboard.forms import read_form
from mcpwall.dashboard.pages import base_context, error_page
from mcpwall.dashboard.render import render
from mcpwall.dashboard.visitors import (
    clear_session_cookie,
    session_secret,
    set_session_cookie,
    visitor_of,
)

INVALID_TOKEN = (
    "That admin token is not valid: it is unknown, revoked or expired. "  # noqa: S105 (a message)
    "Create one with: mcpwall admin token create --role viewer"
)


def routes(control: ControlPlane) -> list[BaseRoute]:
    async def login_page(request: Request) -> Response:
        destination = local_path(request.query_params.get("next", "/"))
        if await run_in_threadpool(visitor_of, control, request) is not None:
            return RedirectResponse(destination, status_code=303)
        return login_form(request, destination)

    async def log_in(request: Request) -> Response:
        try:
            check_origin(request)
            form = await read_form(request)
        except (Forbidden, MCPWallError) as error:
            return error_page(request, error)
        destination = local_path(form.get("next", "/"))
        opened = await run_in_threadpool(control.log_in, form.get("token", "").strip())
        if opened is None:
            return login_form(request, destination, error=INVALID_TOKEN, status=401)
        response = RedirectResponse(destination, status_code=303)
        lifetime = int(control.login_timeouts.absolute.total_seconds())
        set_session_cookie(response, request, opened.secret, lifetime)
        return response

    async def log_out(request: Request) -> Response:
        secret = session_secret(request)
        try:
            check_origin(request)
            form = await read_form(request)
            if secret is not None:
                check_token(request, secret, form)
                await run_in_threadpool(control.log_out, secret)
        except (Forbidden, MCPWallError) as error:
            return error_page(request, error)
        response: Response = RedirectResponse("/login", status_code=303)
        if request.headers.get("hx-request") == "true":
            response = Response(status_code=204, headers={"HX-Redirect": "/login"})
        clear_session_cookie(response, request)
        return response

    return [
        Route("/login", login_page, methods=["GET", "HEAD"]),
        Route("/login", log_in, methods=["POST"]),
        Route("/logout", log_out, methods=["POST"]),
    ]


def login_form(
    request: Request, destination: str, *, error: str = "", status: int = 200
) -> Response:
    context = base_context(request, None, None) | {"next": destination, "error": error}
    return render("login.html", context, status=status)


def local_path(target: str) -> str:
    """``target`` if it is a path on this server, else ``/``: a login link must not be able
    to send anyone to another site afterwards (an open redirect)."""
    is_local = (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and target.isprintable()
        and "\\" not in target
    )
    return target if is_local else "/"

"""From a browser's request to a view and back: who is asking, may they, and what they see.

A *view* is a plain synchronous function of a :class:`PageCall` (who is asking, with which
query and form) to a :class:`Page` (a template and what to fill it with) or, for downloads
and streams, a Starlette ``Response``. :func:`page` makes one route per path that dispatches
on the method, as the admin API's ``resource`` does.

Handling, in order: find the visitor from the session cookie (401/redirect to the login page
if there is none); refuse a role that is too low (403: the page never offered it, but a
forged request gets the same answer); for a request that changes something, check its origin,
read its form and check its CSRF token; then, off the event loop (the store is synchronous),
run the view and render it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mcpwall.control import ControlPlane
from mcpwall.core.errors import (
    Conflict,
    InvalidValue,
    MCPWallError,
    NotFound,
    StoreUnavailable,
    UpstreamError,
)
from mcpwall.core.registry import Role
from mcpwall.dashboard.csrf import SAFE_METHODS, Forbidden, check_origin, check_token
from mcpwall.dashboard.forms import read_form
from mcpwall.dashboard.render import render
from mcpwall.dashboard.tail import Tails
from mcpwall.dashboard.visitors import Visitor, visitor_of
from mcpwall.gateway.probe import Prober
from mcpwall.ports.counters import CounterStore
from mcpwall.ports.logsink import LogReader

logger = logging.getLogger("mcpwall.dashboard")

# Each entry: where, what it is called, and the role that sees it (the page needs it too).
NAVIGATION = (
    ("/", "Overview", Role.VIEWER),
    ("/logs", "Proxy log", Role.VIEWER),
    ("/tail", "Live tail", Role.VIEWER),
    ("/policies", "Policies", Role.VIEWER),
    ("/grants", "Grants", Role.VIEWER),
    ("/upstreams", "Upstreams", Role.VIEWER),
    ("/audit", "Audit trail", Role.VIEWER),
    ("/admin-tokens", "Admin tokens", Role.ADMIN),
)


@dataclass(frozen=True, slots=True)
class Services:
    """What views may use: the control plane (never the store directly) and the proxy log;
    the data plane's rate-limit counters when it runs in this process (read only)."""

    control: ControlPlane
    proxy_log: LogReader
    tails: Tails
    prober: Prober | None = None  # checks upstreams (the upstreams page); None: none offered
    counters: CounterStore | None = None


@dataclass(frozen=True, slots=True)
class PageCall:
    """One authorized request, as a view sees it."""

    services: Services
    visitor: Visitor
    params: Mapping[str, str]
    query: QueryParams
    form: Mapping[str, str]
    partial: bool  # an htmx request for part of the page, not a whole page
    now: datetime
    headers: Headers

    @property
    def control(self) -> ControlPlane:
        return self.services.control


@dataclass(frozen=True, slots=True)
class Page:
    """What a view shows: ``template`` with ``context``; only ``block`` for a partial request."""

    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    block: str | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[PageCall], Page | Response]


@dataclass(frozen=True, slots=True)
class View:
    """One method of one path: the role it needs and the function that answers it."""

    role: Role
    handler: Handler


def page(services: Services, path: str, **methods: View) -> Route:
    """A route for ``path`` serving each ``methods`` key (``get``, ``post``) with its view."""
    views = {method.upper(): view for method, view in methods.items()}
    if "GET" in views:
        views["HEAD"] = views["GET"]

    async def endpoint(request: Request) -> Response:
        view = views[request.method]
        try:
            visitor = await run_in_threadpool(visitor_of, services.control, request)
            if visitor is None:
                return not_logged_in(request)
            if not visitor.may(view.role):
                raise Forbidden(f"this needs role {view.role.value}; you have {visitor.role.value}")
            form: Mapping[str, str] = {}
            if request.method not in SAFE_METHODS:
                check_origin(request)
                form = await read_form(request)
                check_token(request, visitor.secret, form)
            call = PageCall(
                services, visitor, dict(request.path_params), request.query_params, form,
                is_partial(request), services.control.clock.now(), request.headers,
            )  # fmt: skip
            answer = await run_in_threadpool(view.handler, call)
            if isinstance(answer, Response):
                return answer
            return show(request, call, answer)
        except (Forbidden, MCPWallError) as error:
            return error_page(request, error)
        except Exception as error:  # noqa: BLE001 (a bug: shown as such, logged without values)
            logger.error("dashboard view %s %s failed: %s", request.method, path, type(error))
            return error_page(request, error)

    return PageRoute(path, endpoint, {method: view.role for method, view in views.items()})


class PageRoute(Route):
    """A dashboard route, knowing the role each of its methods needs (tests check them all)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], roles: Mapping[str, Role]) -> None:
        super().__init__(path, endpoint, methods=list(roles))
        self.roles = dict(roles)


def show(request: Request, call: PageCall, answer: Page) -> Response:
    """Render a view's page with what every page shows (who is logged in, the navigation)."""
    context = {**base_context(request, call.visitor, call.now), **answer.context}
    block = answer.block if call.partial else None
    return render(
        answer.template, context, block=block, status=answer.status, headers=answer.headers
    )


def base_context(request: Request, visitor: Visitor | None, now: datetime | None) -> dict[str, Any]:
    return {
        "visitor": visitor,
        "now": now,
        "path": request.url.path,
        "navigation": NAVIGATION,
        "csrf_token": visitor.csrf_token if visitor is not None else "",
    }


def is_partial(request: Request) -> bool:
    """Whether htmx asks for part of a page (a boosted link asks for the whole of one)."""
    return request.headers.get("hx-request") == "true" and "hx-boosted" not in request.headers


def not_logged_in(request: Request) -> Response:
    """To the login page, and back here after it (htmx is told to go there itself)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request") == "true":
        # The page that asked is the one to come back to, not the fragment's URL.
        current = request.headers.get("hx-current-url", "")
        here = current.partition(request.base_url.netloc)[2] or here
        login = f"/login?next={quote(here, safe='')}"
        return Response(status_code=401, headers={"HX-Redirect": login})
    if request.method not in SAFE_METHODS:
        return Response("log in first", status_code=401, media_type="text/plain")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidValue, 422),
    (StoreUnavailable, 503),
    (UpstreamError, 502),  # its reason holds no secret (the probe redacts it)
)


def error_page(request: Request, error: Exception) -> Response:
    """An error as a page, or as a fragment for htmx to show in the page's status area.

    mcpwall's own errors say what was wrong without secret values; anything else is a bug,
    logged here and shown as no more than that.
    """
    status = next((code for kind, code in STATUS_OF if isinstance(error, kind)), 500)
    message = str(error) if status != 500 else "the dashboard failed; the server's log says why"
    context = {
        "visitor": None,
        "path": request.url.path,
        "navigation": NAVIGATION,
        "csrf_token": "",
        "status": status,
        "message": message,
    }
    block = "content" if is_partial(request) else None
    return render("error.html", context, block=block, status=status)

"""``create_dashboard``: the dashboard's routes, in one visible table, with the role each needs.

Roles are the admin API's: ``viewer`` reads every page; ``policy_manager`` also edits
policies; ``admin`` also manages grants, upstreams and admin tokens.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from mcpwall.control import ControlPlane
from mcpwall.core.errors import NotFound
from mcpwall.core.registry import Role
from mcpwall.dashboard.pages import Services, View, error_page, page
from mcpwall.dashboard.security import SecurityHeaders
from mcpwall.dashboard.tail import Tails
from mcpwall.dashboard.views import (
    admin_tokens,
    audit,
    grants,
    login,
    logs,
    overview,
    pins,
    policies,
    policy_editor,
    tail,
    upstreams,
)
from mcpwall.gateway.probe import Prober
from mcpwall.ports.counters import CounterStore
from mcpwall.ports.logsink import LogReader

VIEWER, POLICY_MANAGER, ADMIN = Role.VIEWER, Role.POLICY_MANAGER, Role.ADMIN


def create_dashboard(
    control: ControlPlane,
    proxy_log: LogReader,
    *,
    tails: Tails | None = None,
    prober: Prober | None = None,
    counters: CounterStore | None = None,
) -> Starlette:
    """The dashboard over ``control`` and ``proxy_log``, to serve at ``/`` on the admin port.

    ``tails`` holds its live tails (a server that stops calls ``tails.close()`` first);
    ``prober`` checks upstreams for the upstreams page; ``counters`` is the data plane's
    counter store, read (never written) to show how much of each grant's limits is used
    (without it the grants page says usage is unavailable).
    """
    services = Services(control, proxy_log, tails or Tails(), prober, counters)
    static = StaticFiles(packages=[("mcpwall.dashboard", "static")])
    app = Starlette(
        routes=[*login.routes(control), *routes(services), Mount("/static", static)],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.add_middleware(SecurityHeaders)
    return app


async def not_found(request: Request, _error: Exception) -> Response:
    """A path (or a method of one) the dashboard does not have: a page saying so."""
    return error_page(request, NotFound("page", request.url.path))


def routes(services: Services) -> list[BaseRoute]:
    return [
        page(services, "/", get=View(VIEWER, overview.show)),
        page(services, "/logs", get=View(VIEWER, logs.list_rows)),
        page(services, "/logs/export", get=View(VIEWER, logs.export)),
        page(services, "/logs/{id}", get=View(VIEWER, logs.show_row)),
        page(services, "/tail", get=View(VIEWER, tail.show)),
        page(services, "/tail/stream", get=View(VIEWER, tail.stream_part)),
        page(services, "/tail/events", get=View(VIEWER, tail.events)),
        page(services, "/audit", get=View(VIEWER, audit.show)),
        page(services, "/policies", get=View(VIEWER, policies.index)),
        page(services, "/policies/new", get=View(POLICY_MANAGER, policy_editor.new)),
        page(services, "/policies/validate", post=View(POLICY_MANAGER, policy_editor.validate)),
        page(services, "/policies/test", post=View(POLICY_MANAGER, policy_editor.try_a_call)),
        page(services, "/policies/cases", post=View(POLICY_MANAGER, policy_editor.cases)),
        page(services, "/policies/save", post=View(POLICY_MANAGER, policy_editor.save)),
        page(services, "/policies/{name}", get=View(VIEWER, policies.show)),
        page(services, "/policies/{name}/versions/{version}", get=View(VIEWER, policies.version)),
        page(services, "/policies/{name}/diff", get=View(VIEWER, policies.diff)),
        page(services, "/policies/{name}/edit", get=View(POLICY_MANAGER, policy_editor.edit)),
        page(services, "/upstreams",
             get=View(VIEWER, upstreams.index), post=View(ADMIN, upstreams.add)),
        page(services, "/upstreams/{name}", get=View(VIEWER, upstreams.show)),
        page(services, "/upstreams/{name}/check", post=View(VIEWER, upstreams.check)),
        page(services, "/upstreams/{name}/remove", post=View(ADMIN, upstreams.remove)),
        page(services, "/upstreams/{name}/tools/{tool}", get=View(VIEWER, pins.diff)),
        page(services, "/upstreams/{name}/tools/{tool}/accept",
             get=View(ADMIN, pins.confirm_accept), post=View(ADMIN, pins.accept)),
        page(services, "/grants", get=View(VIEWER, grants.show)),
        page(services, "/grants/new",
             get=View(ADMIN, grants.new), post=View(ADMIN, grants.issue)),
        page(services, "/grants/{ref}/revoke",
             get=View(ADMIN, grants.confirm_revoke), post=View(ADMIN, grants.revoke)),
        page(services, "/grants/{ref}/rotate",
             get=View(ADMIN, grants.confirm_rotate), post=View(ADMIN, grants.rotate)),
        page(services, "/admin-tokens", get=View(ADMIN, admin_tokens.show)),
        page(services, "/admin-tokens/new",
             get=View(ADMIN, admin_tokens.new), post=View(ADMIN, admin_tokens.create)),
        page(services, "/admin-tokens/{id}/revoke",
             get=View(ADMIN, admin_tokens.confirm_revoke), post=View(ADMIN, admin_tokens.revoke)),
    ]  # fmt: skip

"""``create_dashboard``: the dashboard's routes, in one visible table, with the role each needs.

Roles are the admin API's: ``viewer`` reads every page; ``policy_manager`` also edits
policies; ``admin`` also manages grants, upstreams and admin tokens.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from mcpwall.control import ControlPlane
from mcpwall.core.registry import Role
from mcpwall.dashboard.pages import Services, View, page
from mcpwall.dashboard.security import SecurityHeaders
from mcpwall.dashboard.views import audit, login, upstreams
from mcpwall.gateway.probe import Prober
from mcpwall.ports.logsink import LogReader

VIEWER, POLICY_MANAGER, ADMIN = Role.VIEWER, Role.POLICY_MANAGER, Role.ADMIN


def create_dashboard(
    control: ControlPlane, proxy_log: LogReader, prober: Prober | None = None
) -> Starlette:
    """The dashboard over ``control`` and ``proxy_log``, to mount at ``/`` on the admin port;
    ``prober`` checks upstreams for the upstreams page."""
    services = Services(control, proxy_log, prober)
    static = StaticFiles(packages=[("mcpwall.dashboard", "static")])
    app = Starlette(routes=[*login.routes(control), *routes(services), Mount("/static", static)])
    app.add_middleware(SecurityHeaders)
    return app


def routes(services: Services) -> list[BaseRoute]:
    return [
        page(services, "/audit", get=View(VIEWER, audit.show)),
        page(services, "/upstreams",
             get=View(VIEWER, upstreams.index), post=View(ADMIN, upstreams.add)),
        page(services, "/upstreams/{name}", get=View(VIEWER, upstreams.show)),
        page(services, "/upstreams/{name}/check", post=View(VIEWER, upstreams.check)),
        page(services, "/upstreams/{name}/remove", post=View(ADMIN, upstreams.remove)),
    ]  # fmt: skip

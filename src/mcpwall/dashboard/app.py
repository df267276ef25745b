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
from mcpwall.dashboard.views import admin_tokens, audit, grants, login
from mcpwall.ports.counters import CounterStore
from mcpwall.ports.logsink import LogReader

VIEWER, POLICY_MANAGER, ADMIN = Role.VIEWER, Role.POLICY_MANAGER, Role.ADMIN


def create_dashboard(
    control: ControlPlane, proxy_log: LogReader, counters: CounterStore | None = None
) -> Starlette:
    """The dashboard over ``control`` and ``proxy_log``, to mount at ``/`` on the admin port.

    ``counters`` is the data plane's counter store, read (never written) to show how much of
    each grant's limits is used; without it the grants page says usage is unavailable.
    """
    services = Services(control, proxy_log, counters)
    static = StaticFiles(packages=[("mcpwall.dashboard", "static")])
    app = Starlette(routes=[*login.routes(control), *routes(services), Mount("/static", static)])
    app.add_middleware(SecurityHeaders)
    return app


def routes(services: Services) -> list[BaseRoute]:
    return [
        page(services, "/audit", get=View(VIEWER, audit.show)),
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

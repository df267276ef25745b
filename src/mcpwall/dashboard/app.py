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
from mcpwall.dashboard.views import audit, login, policies, policy_editor
from mcpwall.ports.logsink import LogReader

VIEWER, POLICY_MANAGER, ADMIN = Role.VIEWER, Role.POLICY_MANAGER, Role.ADMIN


def create_dashboard(control: ControlPlane, proxy_log: LogReader) -> Starlette:
    """The dashboard over ``control`` and ``proxy_log``, to mount at ``/`` on the admin port."""
    services = Services(control, proxy_log)
    static = StaticFiles(packages=[("mcpwall.dashboard", "static")])
    app = Starlette(routes=[*login.routes(control), *routes(services), Mount("/static", static)])
    app.add_middleware(SecurityHeaders)
    return app


def routes(services: Services) -> list[BaseRoute]:
    return [
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
    ]  # fmt: skip

"""``create_admin_app``: the admin API's routes, in one visible table, and the dashboard at ``/``.

Each route names the operations it serves and the role each needs (DESIGN §5: ``viewer``
reads; ``policy_manager`` also sets policies; ``admin`` also manages upstreams, grants and
admin tokens).
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcpwall.adapters.proxylog import ProxyMetrics, proxy_log_reader
from mcpwall.adapters.upstream import Connector
from mcpwall.admin import admin_tokens, audit, grants, logs, policies, upstreams
from mcpwall.admin.endpoint import Body, Operation, Run, resource
from mcpwall.admin.errors import EXCEPTION_HANDLERS
from mcpwall.admin.metrics import metrics_route
from mcpwall.admin.openapi import DOCUMENT
from mcpwall.control import ControlPlane
from mcpwall.core.registry import Role
from mcpwall.dashboard import create_dashboard
from mcpwall.dashboard.tail import Tails
from mcpwall.gateway.probe import Prober
from mcpwall.ports.counters import CounterStore
from mcpwall.ports.logsink import LogReader

VIEWER, POLICY_MANAGER, ADMIN = Role.VIEWER, Role.POLICY_MANAGER, Role.ADMIN


def create_admin_app(
    control: ControlPlane,
    *,
    proxy_log: LogReader | None = None,
    metrics: ProxyMetrics | None = None,
    tails: Tails | None = None,
    prober: Prober | None = None,
    counters: CounterStore | None = None,
) -> Starlette:
    """The admin API over ``control``: pure construction, nothing read from the environment.

    ``proxy_log``, ``metrics``, ``prober`` and ``counters`` are the data plane's (``mcpwall
    serve``); without them, the store's proxy log table, metrics that count nothing, upstream
    checks through a connector of the gateway's kind with no bound of their own on processes,
    and a dashboard that says it can't show how much of each rate limit is used.
    """
    reader = proxy_log or proxy_log_reader(control.store, control.clock)
    prober = prober or Prober(Connector(), clock=control.clock)
    document = json.dumps(DOCUMENT).encode()

    async def openapi_document(_request: Request) -> Response:
        # Public, like any API's description: it holds no data.
        return Response(document, media_type="application/json")

    api = [
        Route("/api/openapi.json", openapi_document, methods=["GET"]),
        *routes(control, reader, prober),
        metrics_route(control, metrics or ProxyMetrics()),
    ]
    app = Starlette(routes=api, exception_handlers=EXCEPTION_HANDLERS)
    dashboard = create_dashboard(control, reader, tails=tails, prober=prober, counters=counters)
    app.router.default = _elsewhere(app, dashboard)
    return app


def _elsewhere(app: Starlette, dashboard: ASGIApp) -> ASGIApp:
    """What a path no API route matches goes to: the dashboard, except under ``/api``.

    A fallback rather than a mount at ``/``, so that the API's own answers stay as they were:
    a method a path does not have is 405, an unknown ``/api`` path a JSON 404.
    """

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if path in ("/api", "/metrics") or path.startswith("/api/"):
            await app.router.not_found(scope, receive, send)
        else:
            await dashboard(scope, receive, send)

    return route


def routes(control: ControlPlane, proxy_log: LogReader, prober: Prober) -> list[BaseRoute]:
    def read(run: Run, query: frozenset[str] = frozenset()) -> Operation:
        return Operation(VIEWER, run, query=query)

    def change(run: Run, body: Body = Body.NONE) -> Operation:
        return Operation(ADMIN, run, body)

    return [
        resource(control, "/api/upstreams",
                 get=read(upstreams.list_upstreams),
                 post=change(upstreams.add_upstream, Body.JSON)),
        resource(control, "/api/upstreams/{name}",
                 get=read(upstreams.get_upstream),
                 delete=change(upstreams.remove_upstream)),
        resource(control, "/api/upstreams/{name}/tools",
                 get=read(upstreams.review_tools(prober))),
        resource(control, "/api/upstreams/{name}/tools/{tool}/diff",
                 get=read(upstreams.tool_diff(prober))),
        resource(control, "/api/upstreams/{name}/accept",
                 post=change(upstreams.accept_tools(prober), Body.JSON)),
        resource(control, "/api/policies",
                 get=read(policies.list_policies)),
        resource(control, "/api/policies/{name}",
                 get=read(policies.get_policy),
                 put=Operation(POLICY_MANAGER, policies.set_policy, Body.POLICY)),
        resource(control, "/api/policies/{name}/versions",
                 get=read(policies.list_versions)),
        resource(control, "/api/policies/{name}/versions/{version}",
                 get=read(policies.get_version)),
        resource(control, "/api/grants",
                 get=read(grants.list_grants),
                 post=change(grants.issue_grant, Body.JSON)),
        resource(control, "/api/grants/{ref}",
                 get=read(grants.get_grant)),
        resource(control, "/api/grants/{ref}/revoke",
                 post=change(grants.revoke_grant)),
        resource(control, "/api/grants/{ref}/rotate",
                 post=change(grants.rotate_grant)),
        resource(control, "/api/admin-tokens",
                 get=read(admin_tokens.list_admin_tokens),
                 post=change(admin_tokens.create_admin_token, Body.JSON)),
        resource(control, "/api/admin-tokens/{id}/revoke",
                 post=change(admin_tokens.revoke_admin_token)),
        resource(control, "/api/audit",
                 get=read(audit.list_audit, audit.QUERY)),
        resource(control, "/api/logs",
                 get=read(logs.list_logs(proxy_log), logs.LIST_QUERY)),
        resource(control, "/api/logs/summary",
                 get=read(logs.summarize(proxy_log), logs.SUMMARY_QUERY)),
    ]  # fmt: skip

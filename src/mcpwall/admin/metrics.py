"""``/metrics``: the gateway's Prometheus metrics, for viewers and up.

Counted from the proxy log (``adapters/proxylog/metrics.py``), so no label carries an argument
value or a token. Like the API it needs an admin token: point Prometheus' ``authorization``
at a viewer token.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mcpwall.adapters.proxylog.metrics import CONTENT_TYPE, ProxyMetrics
from mcpwall.admin.auth import authorize, bearer_token
from mcpwall.control import ControlPlane
from mcpwall.core.registry import Role


def metrics_route(control: ControlPlane, metrics: ProxyMetrics) -> Route:
    async def endpoint(request: Request) -> Response:
        token = bearer_token(request.headers)
        await run_in_threadpool(authorize, control, token, Role.VIEWER)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return Route("/metrics", endpoint, methods=["GET"])

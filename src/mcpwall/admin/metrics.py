"""``/metrics``: the gateway's Prometheus metrics, for viewers and up.

Counted from the proxy log (``adapters/proxylog/metrics.py``), so no label carries an argument
value or a token. Like the API it needs an admin token: point Prometheus' ``authorization``
at a viewer token.

The token is checked against the store on every scrape. While the store can't be read, a
token this route accepted before (and not refused since) is still accepted: the metrics are
how an operator sees that the store is lost (``mcpwall_store_up``), so they must not go dark
with it. A token never accepted before gets the API's 503. The tokens kept are few
(:data:`REMEMBERED_TOKENS`, by hash).
"""

from __future__ import annotations

from collections import OrderedDict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mcpwall.adapters.proxylog.metrics import CONTENT_TYPE, ProxyMetrics
from mcpwall.admin.auth import authorize, bearer_token
from mcpwall.control import ControlPlane
from mcpwall.core.errors import StoreUnavailable
from mcpwall.core.registry import Role
from mcpwall.core.tokens import hash_token

REMEMBERED_TOKENS = 16  # scrapers are few; each is one Prometheus job's token


def metrics_route(control: ControlPlane, metrics: ProxyMetrics) -> Route:
    accepted: OrderedDict[str, None] = OrderedDict()

    async def endpoint(request: Request) -> Response:
        token = bearer_token(request.headers)
        key = hash_token(token)
        try:
            await run_in_threadpool(authorize, control, token, Role.VIEWER)
        except StoreUnavailable:
            if key not in accepted:
                raise
        except Exception:
            accepted.pop(key, None)
            raise
        else:
            accepted[key] = None
            accepted.move_to_end(key)
            if len(accepted) > REMEMBERED_TOKENS:
                accepted.popitem(last=False)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return Route("/metrics", endpoint, methods=["GET"])

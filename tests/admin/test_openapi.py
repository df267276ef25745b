"""The OpenAPI document: it describes exactly the app's routes, and the app keeps to it.

Schemathesis reads the app's own document (in process, over ASGI), sends each operation
requests its schemas allow and requests they forbid, and checks every answer: no server
error, a documented status, media type and headers, a body valid against its schema, and
forbidden input refused. Examples are few and derandomized so the suite stays fast and the
same on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.routing import Route

from mcpwall.adapters.proxylog.metrics import ProxyMetrics
from mcpwall.admin import create_admin_app, openapi
from mcpwall.admin.openapi import DOCUMENT
from mcpwall.control import ControlPlane
from mcpwall.core.policy.compile import (
    ALL_TOOLS_KEYS,
    CONDITION_KEYS,
    ENTRY_KEYS,
    LIMIT_KEYS,
    TOOL_KEYS,
    TOP_KEYS,
)
from mcpwall.core.registry import Role, Upstream
from mcpwall.gateway.probe import Prober
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.fake_upstream import FakeConnector, Related, error, result
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.upstream import Message
from tests.adapters.proxylog.records import generated

if TYPE_CHECKING:
    from tests.admin.conftest import Api


def test_the_document_describes_exactly_the_routes_the_app_serves(api: Api) -> None:
    app = api.client.app
    served = {
        (method, route.path)
        for route in app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item
    }
    assert served == documented


def test_the_document_is_valid_openapi_3_1() -> None:
    schemathesis.openapi.from_dict(DOCUMENT).validate()


def test_the_policy_outline_has_exactly_the_keys_the_engine_reads() -> None:
    outline = openapi.POLICY_DOCUMENT
    tool = outline["properties"]["tools"]["additionalProperties"]
    entry = tool["properties"]["require"]["items"]
    for schema, keys in (
        (outline, TOP_KEYS),
        (outline["properties"]["all_tools"], ALL_TOOLS_KEYS),
        (tool, TOOL_KEYS),
        (entry, ENTRY_KEYS),
        (entry["properties"]["conditions"]["items"], CONDITION_KEYS),
        (tool["properties"]["limits"]["items"], LIMIT_KEYS),
    ):
        assert set(schema["properties"]) == set(keys)
        assert schema["additionalProperties"] is False


def test_every_operation_but_the_document_needs_the_bearer_token() -> None:
    scheme = DOCUMENT["components"]["securitySchemes"]["adminToken"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert DOCUMENT["security"] == [{"adminToken": []}]
    for path, item in DOCUMENT["paths"].items():
        for operation in item.values():
            public = operation.get("security") == []
            assert public == (path == "/api/openapi.json"), path
            assert public or {"401", "503"} <= set(operation["responses"]), path


async def listing(method: str, _params: Mapping[str, object] | None, _related: Related) -> Message:
    if method == "tools/list":
        return result({"tools": [{"name": "delete_pod", "inputSchema": {"type": "object"}}]})
    return error(-32601, f"Method not found: {method}")


class Fuzzed:
    """The app under fuzzing, with the objects the document's examples name."""

    def __init__(self) -> None:
        clock = FakeClock()
        self.control = ControlPlane(MemoryStore(clock), clock)
        self.token = self.control.create_admin_token(Role.ADMIN, actor="test").token
        store = self.control.store
        store.add_upstream(Upstream.stdio("kubernetes", "npx"), actor="test")
        policy = '{"version": "1", "default": "allow"}'
        self.control.set_policy("kubernetes-nonprod", policy, actor="test")
        # A proxy log and metrics with rows in them, so their answers are checked with data.
        log = MemorySink()
        log.write_batch(generated(50))
        metrics = ProxyMetrics(lambda _upstream, _tool: True)
        metrics.write_batch(generated(50))
        # Upstream checks (pin reviews, acceptances) list a fake upstream's tools, at once.
        prober = Prober(FakeConnector(listing), clock=clock)
        app = create_admin_app(self.control, proxy_log=log, metrics=metrics, prober=prober)
        self.schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)


# Built at import: schemathesis makes one test per operation when the module is collected.
# (Its lazy loader, from_fixture, reads a pytest private that pytest 9 no longer has.)
FUZZED = Fuzzed()
schema = FUZZED.schema


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_app_keeps_to_its_document(case: Any) -> None:
    excluded = []
    if case.operation.label == "PUT /api/policies/{name}":
        # The schema outlines a policy; the engine decides (RE2 syntax, each operator's value,
        # counters shared consistently), so a document the outline admits may still be 422.
        excluded.append(positive_data_acceptance)
    headers = {"Authorization": f"Bearer {FUZZED.token}"}
    case.call_and_validate(headers=headers, excluded_checks=excluded)

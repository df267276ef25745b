"""An upstream offering a large catalogue (the fixture's ``--tools``, which ``bench/scale.py``
lists 1,000 of), filtered by a policy that hides half of it: the agent sees exactly the rest,
in the upstream's order, can call what it sees and nothing it does not."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.e2e.harness import LEGACY, MODERN, Gateway, Mode, agent, all_tool_names, text_of
from tests.fixtures.servers import Record, fixture_http_server

pytestmark = pytest.mark.anyio

BULK = 300
TIMEOUT = 60


@pytest.mark.parametrize("mode", [LEGACY, MODERN])
async def test_a_filtered_catalogue_of_bulk_tools(tmp_path: Path, mode: Mode) -> None:
    hidden = [f"bulk_{i:04d}" for i in range(0, BULK, 2)]
    record = Record(tmp_path / "bulk.record.jsonl")
    with fixture_http_server("http", record.path, tools=BULK) as url:
        gateway = Gateway(tmp_path / "home", {})
        tokens = gateway.apply(
            {
                "upstreams": {"bulk": {"url": url}},
                "policies": {"half": {"version": "1", "default": "allow", "hide": hidden}},
                "grants": [{"label": "agent", "bind": {"bulk": "half"}}],
            }
        )
        gateway.start()
        try:
            with anyio.fail_after(TIMEOUT):
                async with agent(gateway.url("bulk"), tokens["agent"], mode) as client:
                    listed = await all_tool_names(client)
                    called = await client.call_tool("bulk_0007", {"name": "p", "namespace": "n"})
                    with pytest.raises(MCPError) as refused:
                        await client.call_tool("bulk_0008", {"name": "p", "namespace": "n"})
        finally:
            gateway.stop_cleanly()
    bulk = [name for name in listed if name.startswith("bulk_")]
    assert bulk == [f"bulk_{i:04d}" for i in range(1, BULK, 2)]  # the rest, in order
    assert "echo" in listed  # the fixture's own tools are still offered
    assert text_of(called) == "bulk_0007 would act on n/p"
    assert (refused.value.code, refused.value.message) == (-32602, "Unknown tool: bulk_0008")
    calls = [event["tool"] for event in record.events() if event["event"] == "call"]
    assert calls == ["bulk_0007"]  # the hidden one never reached the upstream

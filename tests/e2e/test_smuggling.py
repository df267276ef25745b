"""Request smuggling and framing attacks on raw sockets against a real ``mcpwall serve`` in
front of the fixture server (issue 14), and the comparison with uvicorn that
``docs/http-hardening.md`` shows (the cases: :mod:`tests.e2e.smuggling`).

For every case, the gateway answers what the page's mcpwall column says, and then:

- nothing reached the upstream that the policy did not judge: the smuggled ``delete_pod``
  in ``payments-prod`` never reaches it, and the carrier call reaches it no more often than
  it was answered 200, each time with an ``allow`` row in the proxy log;
- the gateway keeps serving: a normal call on a fresh connection gets its answer.

Every wait is bounded and waits for something expected; no time is asserted.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import seed_policy
from tests.e2e.harness import Gateway
from tests.e2e.smuggling import (
    CASES,
    DEADLINE,
    DOC,
    LOOPBACK,
    Case,
    Observation,
    Target,
    answers_of,
    documented,
    documented_answers,
    observe_all,
    probe,
    table,
    versions,
)
from tests.fixtures.servers import FIXTURE_SERVER, RECORD_ENV, Record

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

LOG_TIMEOUT = 15.0  # how long a proxy-log row may take to be written (rows go in batches)
MAX_CONNECTIONS = 40
IDLE_CONNECTIONS = 3 * MAX_CONNECTIONS


@dataclass(frozen=True)
class Setup:
    gateway: Gateway
    token: str
    viewer: str  # an admin API token, to read the proxy log
    record: Record


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """``mcpwall serve`` with :data:`DEADLINE` for its deadlines, in front of the fixture
    server over stdio under the seed's policy."""
    home = tmp_path_factory.mktemp("smuggling")
    record = Record(home / "fx.record.jsonl")
    seconds = str(DEADLINE)
    gateway = Gateway(
        home,
        {
            "MCPWALL_IDLE_TIMEOUT": seconds,
            "MCPWALL_HEAD_TIMEOUT": seconds,
            "MCPWALL_BODY_TIMEOUT": seconds,
            "MCPWALL_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        },
    )
    tokens = gateway.apply(
        {
            "upstreams": {
                "fx": {
                    "command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
                    "env": {RECORD_ENV: str(record.path)},
                }
            },
            "policies": {"seed": seed_policy()},
            "grants": [{"label": "agent", "bind": {"fx": "seed"}}],
        }
    )
    viewer = json.loads(gateway.cli("admin", "token", "create", "--role", "viewer", "--json"))
    gateway.start()
    try:
        yield Setup(gateway, tokens["agent"], viewer["token"], record)
    finally:
        gateway.stop_cleanly()


def target(setup: Setup, tag: str) -> Target:
    return Target(f"{LOOPBACK}:{setup.gateway.port}", setup.token, tag)


def log_rows(setup: Setup, tool: str | None) -> list[dict[str, Any]]:
    """The proxy log's latest rows (for ``tool``), through the admin API."""
    query = "limit=500" if tool is None else f"tool={tool}&limit=500"
    request = urllib.request.Request(
        f"http://{LOOPBACK}:{setup.gateway.admin_port}/api/logs?{query}",
        headers={"authorization": f"Bearer {setup.viewer}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        records: list[dict[str, Any]] = json.loads(answer.read())["records"]
    return records


async def logged(setup: Setup, tool: str, request_id: str) -> list[dict[str, Any]]:
    """Every row for ``tool`` once the one of ``request_id`` is written (rows are written in
    order, in batches: those before it are written too)."""
    async with asyncio.timeout(LOG_TIMEOUT):
        while True:
            rows = await asyncio.to_thread(log_rows, setup, tool)
            if any(row["request_id"] == request_id for row in rows):
                return rows
            await asyncio.sleep(0.05)


NORMAL = Case("a normal call", lambda t: t.request(extra=["connection: close"]))


async def still_serving(setup: Setup, tag: str) -> list[dict[str, Any]]:
    """A normal call on a fresh connection gets its answer and reaches the upstream; the
    proxy log's ``echo`` rows once its own is written."""
    fresh = target(setup, f"after-{tag}")
    seen = await probe(setup.gateway.port, NORMAL, fresh)
    assert seen.statuses == (200,), seen
    await setup.record.wait_for(lambda event: event.get("arguments") == {"message": fresh.tag})
    return await logged(setup, "echo", f"c-{fresh.tag}")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]


@pytest.mark.parametrize("case", CASES, ids=[slug(case.name) for case in CASES])
async def test_the_gateway_refuses_or_judges_every_request(setup: Setup, case: Case) -> None:
    tag = slug(case.name)
    seen = await probe(setup.gateway.port, case, target(setup, tag))
    expected = documented_answers(DOC.read_text(encoding="utf-8"))[case.name]
    assert seen.render(notes=False) == expected, seen

    echo_rows = await still_serving(setup, tag)
    events = setup.record.events()
    smuggled = [e for e in events if (e.get("arguments") or {}).get("name") == tag]
    assert smuggled == [], "a call the policy denies reached the upstream"
    carried = [e for e in events if e.get("arguments") == {"message": tag}]
    allowed = [row for row in echo_rows if row["request_id"] == f"c-{tag}"]
    assert [row["decision"] for row in allowed] == ["allow"] * len(carried)
    judged = [row for row in log_rows(setup, "delete_pod") if row["request_id"] == f"s-{tag}"]
    assert [row["decision"] for row in judged] == ["deny"] * len(judged)
    # Each 200 answered one call: the carrier, forwarded, or the smuggled one, denied.
    assert len(carried) + len(judged) == seen.statuses.count(200)


async def test_a_malformed_body_is_refused_at_once_with_its_proxy_log_row(setup: Setup) -> None:
    """A bad chunk size: 400 (not 408 at the body's deadline), and a row saying why, before
    the row of the next call."""
    case = next(case for case in CASES if case.name == "negative chunk size")
    seen = await probe(setup.gateway.port, case, target(setup, "malformed-body"))
    assert seen.render() == "400, closed"
    await still_serving(setup, "malformed-body")
    rows = await asyncio.to_thread(log_rows, setup, None)
    refused = [row for row in rows if row["message"].startswith("HTTP 400: malformed HTTP/1.1")]
    assert refused, rows
    assert (refused[0]["decision"], refused[0]["outcome"]) == ("deny", "not_forwarded")


async def test_idle_connections_are_bounded_and_closed(setup: Setup) -> None:
    """Three times the connection cap, opened and left silent: each is refused (503) or
    closed by the gateway, and an agent is served afterwards."""

    async def idle() -> bytes:
        reader, writer = await asyncio.open_connection(LOOPBACK, setup.gateway.port)
        try:
            received = b""
            while chunk := await reader.read(65536):
                received += chunk
            return received
        except ConnectionResetError:
            return b""
        finally:
            writer.close()

    async with asyncio.timeout(30):
        answers = await asyncio.gather(*(idle() for _ in range(IDLE_CONNECTIONS)))
    assert all(a == b"" or a.startswith(b"HTTP/1.1 503 ") for a in answers), answers
    await still_serving(setup, "idle-connections")


async def test_the_page_shows_what_the_servers_answer() -> None:
    """``docs/http-hardening.md``'s table is what a run answers, on the data plane's server
    and on uvicorn with httptools and with h11, each serving the tiny app; regenerate it with
    ``python -m tests.e2e.smuggling --write``."""
    generated = table(await observe_all())
    page = documented(DOC.read_text(encoding="utf-8"))
    assert answers_of(generated) == answers_of(page)  # the mcpwall column, whatever uvicorn
    if versions() not in page:
        # The uvicorn columns hold for the versions the page names: a newer release may
        # answer otherwise, and is no failure of mcpwall's.
        pytest.skip(f"the page's uvicorn columns are for other versions ({versions()})")
    assert generated == page


def test_every_case_is_in_the_page() -> None:
    answers = documented_answers(DOC.read_text(encoding="utf-8"))
    assert list(answers) == [case.name for case in CASES]


def test_an_observation_renders_as_one_cell() -> None:
    assert Observation((400,), True, "closed").render() == "400, closed"
    assert Observation((100, 200), False, "closed").render() == "100, 200, kept alive"
    assert Observation((), False, "open").render() == "no answer, left open"
    assert Observation((200,), False, "closed", ("a note",)).render() == "200, kept alive (a note)"

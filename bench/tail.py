"""The live tail's delay (docs/dashboard.md): how long after an agent's call is answered by
one replica its row appears in the dashboard's live tail on another.

Run with ``make bench`` (or ``.venv/bin/python bench/tail.py``). Two ``mcpwall serve``
processes share one PostgreSQL (``MCPWALL_BENCH_POSTGRES_URL``, default
``postgresql://127.0.0.1:5432/test``, in a schema of its own, dropped after) and the
sandbox upstream of ``examples/seed``; a client logged in to replica A's dashboard watches
its ``/tail/events`` while refused calls are made through replica B, one at a time, at
random moments. Each delay runs from B's answer to A's event. Without PostgreSQL it says so
and measures one replica on SQLite instead.

The delay is bounded by the proxy log's batch interval (rows are written every
``INTERVAL_SECONDS``) plus the tail's poll (``POLL_SECONDS``), plus one query.
"""

from __future__ import annotations

import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import make_url

from mcpwall.adapters.proxylog.batching import INTERVAL_SECONDS
from mcpwall.dashboard.tail import POLL_SECONDS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import call_body, call_headers

MCPWALL = str(Path(sys.executable).with_name("mcpwall"))
SEED = Path(__file__).resolve().parents[1] / "examples" / "seed" / "mcpwall.yaml"
POSTGRES_URL = os.environ.get("MCPWALL_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
CALLS = 30
REFUSED = ("delete_pod", {"namespace": "payments-prod", "name": "api-7f9c"})


@contextmanager
def postgres_schema() -> Iterator[str | None]:
    """A URL for a fresh schema, or None when PostgreSQL can't be reached."""
    try:
        connection = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        print(f"PostgreSQL unreachable ({str(error).splitlines()[0]}): one replica on SQLite")
        yield None
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [MCPWALL, *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def serve(env: dict[str, str], port: int, admin_port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [MCPWALL, "serve", "--port", str(port), "--admin-port", str(admin_port)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # a bench waits for a process to start; no test relies on this
    raise SystemExit(f"mcpwall serve did not start; see {log}")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, postgres_schema() as database:
        home = Path(scratch)
        path = os.pathsep.join([str(Path(MCPWALL).parent), os.environ.get("PATH", "")])
        env = {**os.environ, "PATH": path, "MCPWALL_HOME": str(home / "a")}
        env.pop("MCPWALL_REDIS_URL", None)
        if database is not None:
            env["MCPWALL_DATABASE_URL"] = database
            env["MCPWALL_SECRET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
        (home / "a").mkdir()
        output = cli(env, "apply", "-f", str(SEED))
        grant = next(
            line.split(": ")[1] for line in output.splitlines() if line.startswith("token ")
        )
        admin = json.loads(cli(env, "admin", "token", "create", "--role", "viewer", "--json"))
        port_a, admin_a, port_b, admin_b = free_ports(4)
        replicas = [serve(env, port_a, admin_a, home / "a.log")]
        if database is not None:
            (home / "b").mkdir()
            env_b = {**env, "MCPWALL_HOME": str(home / "b")}
            replicas.append(serve(env_b, port_b, admin_b, home / "b.log"))
        else:
            port_b = port_a
        try:
            delays = measure(admin_a, port_b, admin["token"], grant)
        finally:
            for process in replicas:
                process.terminate()
                process.wait(30)
    report(delays, replicas=len(replicas))


def measure(admin_port: int, agent_port: int, admin_token: str, grant: str) -> list[float]:
    origin = f"http://127.0.0.1:{admin_port}"
    browser = httpx.Client(timeout=30)
    browser.post(f"{origin}/login", data={"token": admin_token}, headers={"Origin": origin})
    arrivals: dict[str, float] = {}
    seen = threading.Event()

    def watch() -> None:
        with browser.stream("GET", f"{origin}/tail/events?tool=delete_pod") as stream:
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    arrivals[line[4:]] = time.monotonic()
                    seen.set()

    threading.Thread(target=watch, daemon=True).start()
    agent = httpx.Client(timeout=30)
    url = f"http://127.0.0.1:{agent_port}/mcp/k8s"
    delays = []
    rng = random.Random(7)
    for n in range(CALLS):
        time.sleep(rng.random())  # calls at random moments against the poll's phase
        seen.clear()
        before = len(arrivals)
        answer = agent.post(
            url, content=call_body(*REFUSED, n + 1), headers=call_headers(REFUSED[0], grant)
        )
        answered = time.monotonic()
        assert answer.status_code == 200, answer.text
        if not seen.wait(30) or len(arrivals) == before:
            raise SystemExit("a row never reached the tail")
        delays.append(max(arrivals.values()) - answered)
    return delays


def report(delays: list[float], *, replicas: int) -> None:
    ordered = sorted(delays)
    where = "another replica on PostgreSQL" if replicas == 2 else "the same process on SQLite"
    print(f"live tail: call answered → row in the tail of {where}, {len(delays)} calls")
    print(f"  median {statistics.median(ordered) * 1000:.0f} ms, "
          f"p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:.0f} ms, "
          f"max {ordered[-1] * 1000:.0f} ms")  # fmt: skip
    batch, poll = INTERVAL_SECONDS * 1000, POLL_SECONDS * 1000
    print(f"  bound: batch interval {batch:.0f} ms + poll {poll:.0f} ms + one query")


if __name__ == "__main__":
    main()

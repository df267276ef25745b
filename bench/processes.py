"""Child processes for the benchmarks: free loopback ports, fixture servers, ``mcpwall``.

Shared by the scripts in ``bench/``. Every process runs on 127.0.0.1 and is stopped (SIGTERM,
then SIGKILL) on the way out of its ``with`` block.

A script that runs another git revision's ``mcpwall`` beside the working tree's gives each
revision its own home, configured by that revision's own ``mcpwall``
(:func:`configured_home`): a revision opening a home migrates its schema to the revision's
newest, and an older revision cannot open it after that (Alembic: "Can't locate revision").
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

LOOPBACK = "127.0.0.1"
STARTUP_SECONDS = 30.0
TOKEN_LINE = re.compile(r"^token (\S+): (\S+)$", re.MULTILINE)  # mcpwall apply's new grants


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` keeping a child on one CPU (None: leave it to the scheduler)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path, cpu: int | None = None
) -> Iterator[subprocess.Popen[str]]:
    """A child process (its stderr in ``log``), stopped on the way out."""
    with (
        log.open("w") as output,
        subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=output,
            text=True,
            preexec_fn=pinned(cpu),
        ) as process,
    ):
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def ready_url(process: subprocess.Popen[str], log: Path) -> str:
    """The URL in the ``READY <url>`` line a fixture server prints once it listens."""
    stdout: IO[str] | None = process.stdout
    assert stdout is not None
    readable, _, _ = select.select([stdout], [], [], STARTUP_SECONDS)
    line = stdout.readline() if readable else ""
    if not line.startswith("READY "):
        sys.exit(f"the fixture server did not start:\n{log.read_text()}")
    return line.split()[1]


def home_env(home: Path, src: Path | None = None) -> dict[str, str]:
    """Our environment with ``MCPWALL_HOME`` set and the embedded default store (SQLite); with
    ``src``, that source tree's ``mcpwall`` (another revision's) instead of the installed one."""
    env = {**os.environ, "MCPWALL_HOME": str(home)}
    for variable in ("MCPWALL_DATABASE_URL", "MCPWALL_REDIS_URL"):
        env.pop(variable, None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def mcpwall(home: Path, *arguments: str, src: Path | None = None) -> str:
    """Run one ``mcpwall`` command (of the source tree ``src``, default: the installed one)
    against ``home``; its stdout, or exit saying why not."""
    done = subprocess.run(
        [sys.executable, "-m", "mcpwall", *arguments],
        env=home_env(home, src), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"mcpwall {' '.join(arguments)} failed:\n{done.stderr}")
    return done.stdout


def configured_home(home: Path, src: Path | None, config: Mapping[str, Any]) -> dict[str, str]:
    """A new ``home`` (``mcpwall.json`` in it) configured from ``config`` (upstreams, policies,
    grants) by ``mcpwall apply -f`` of the source tree ``src`` (None: the installed one), so
    that its schema is that revision's; the new grants' tokens by label."""
    home.mkdir()
    path = home / "mcpwall.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    tokens = dict(TOKEN_LINE.findall(mcpwall(home, "apply", "-f", str(path), src=src)))
    labels = {str(grant["label"]) for grant in config.get("grants", [])}
    if set(tokens) != labels:
        sys.exit(f"mcpwall apply issued tokens for {sorted(tokens)}, not {sorted(labels)}")
    return tokens


def wait_healthy(url: str, process: subprocess.Popen[str], log: Path) -> None:
    """Poll ``url`` until it answers 200 (bounded), or exit with the process's log."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    sys.exit(f"the gateway did not become healthy:\n{log.read_text()}")


def serve_revision(
    stack: ExitStack, name: str, src: Path, home: Path, cpu: int | None
) -> tuple[int, subprocess.Popen[str]]:
    """Start ``mcpwall serve`` from the source tree ``src`` on ``home`` (its log beside the
    home, named after ``name``), kept running until ``stack`` closes; its data port and process
    once ``/healthz`` answers."""
    port, admin = free_port(), free_port()
    env = home_env(home, src)
    command = [sys.executable, "-m", "mcpwall", "serve",
               "--port", str(port), "--admin-port", str(admin)]  # fmt: skip
    log = home.parent / f"{name}.log"
    process = stack.enter_context(running(command, env, log, cpu))
    wait_healthy(f"http://{LOOPBACK}:{port}/healthz", process, log)
    return port, process

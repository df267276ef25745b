"""The demo's child processes: ``mcpwall sandbox --http`` and ``mcpwall serve``, on loopback.

Each runs in a session of its own, so a Ctrl-C in the terminal reaches the demo alone, which
then stops them in order (the gateway first, so its proxy log is flushed while the upstream is
still there). Readiness is waited for in bounded polls, never with fixed sleeps; their output
goes to log files in the demo's home, shown when something goes wrong.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

from mcpwall.core.errors import DemoStepFailed

LOOPBACK = "127.0.0.1"
READY_SECONDS = 20.0
STOP_SECONDS = 10.0
POLL_SECONDS = 0.02
LOG_TAIL_LINES = 15

T = TypeVar("T")


def mcpwall_command() -> list[str]:
    """How to run this mcpwall: the console script beside this Python, else ``-m mcpwall``."""
    script = Path(sys.executable).with_name("mcpwall")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("mcpwall")
    return [found] if found else [sys.executable, "-m", "mcpwall"]


def clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without any ``MCPWALL_*`` setting, with ``MCPWALL_HOME``:
    the demo runs the embedded default (SQLite, one process), whatever the shell configures."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("MCPWALL_")}
    return {**kept, "MCPWALL_HOME": str(home)}


def free_port(taken: Sequence[int] = ()) -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, and not one of ``taken``."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, 0))
            port: int = probe.getsockname()[1]
        if port not in taken:
            return port


def poll(probe: Callable[[], T | None], timeout: float) -> T | None:
    """``probe()`` until it returns something other than None, for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None or time.monotonic() >= deadline:
            return value
        time.sleep(POLL_SECONDS)


class Child:
    """One child process, its log file, and how to stop it."""

    def __init__(
        self, name: str, argv: list[str], env: Mapping[str, str], log: Path, *, pipe: bool = False
    ) -> None:
        self.name = name
        self.log = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 (mcpwall itself, no shell)
                argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipe else output,
                stderr=output,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def first_line(self, timeout: float = READY_SECONDS) -> str:
        """The first line the child prints on stdout, waiting up to ``timeout`` s."""
        stdout: IO[bytes] | None = self.process.stdout
        assert stdout is not None, "started without pipe=True"
        readable, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline().decode("utf-8", "replace").strip() if readable else ""
        if not line:
            self.fail_to_start(f"it printed no URL within {timeout:.0f} s")
        return line

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` until true; fail (with the log) if the child exits or time runs out."""

        def probe() -> bool | None:
            if not self.running():
                self.fail_to_start(f"it exited with code {self.process.returncode}")
            return True if ready() else None

        if poll(probe, READY_SECONDS) is None:
            self.fail_to_start(f"{what} within {READY_SECONDS:.0f} s")

    def fail_to_start(self, why: str) -> None:
        raise DemoStepFailed(f"start {self.name}", f"{self.name} to start", f"{why}{self.tail()}")

    def stop(self) -> int:
        """SIGTERM, wait (SIGKILL after ``STOP_SECONDS``); the exit code."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def tail(self) -> str:
        """The end of the child's log, for an error message ("" when it wrote nothing)."""
        try:
            lines = self.log.read_text("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return "".join(f"\n    {line}" for line in lines)


def answers_200(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our own loopback URL)
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False

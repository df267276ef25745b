"""Fixtures for the dashboard's browser tests: Debian's chromium, driven by Playwright's sync
API, against a server on 127.0.0.1.

- ``chromium_executable``: ``/usr/bin/chromium`` (``make test`` installs Debian's package when
  it is missing), else ``chromium`` on PATH; ``MCPWALL_TEST_CHROMIUM`` names another. Without
  it the tests skip, except under ``CI=true``, where they fail, as the PostgreSQL and Redis
  tests do. Playwright never downloads a browser here: it launches this one through
  ``executable_path``.
- ``browser``: one headless chromium per test session (per xdist worker), lent to one test at a
  time (see :class:`BrowserSession` for why lending matters: asyncio tests run in the same
  process).
- ``page``: a new browser context per test, its ``base_url`` the test's ``server_origin``
  (a fixture the test module provides, e.g. with :func:`serve_app`). ``page_log`` records
  every request URL, console message and uncaught page error; at teardown every request must
  have gone to ``server_origin`` itself.
- :func:`screenshot` saves a full-page PNG as ``artifacts/screenshots/NAME.png`` (git-ignored);
  :func:`check_accessibility` runs axe-core and fails on every serious or critical violation.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn
from urllib.parse import urlsplit

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from starlette.types import ASGIApp

from tests.fixtures.servers import LOOPBACK, poll

if TYPE_CHECKING:
    from tests.dashboard.browser.gateway import Served

REPO: Final = Path(__file__).resolve().parents[3]
SCREENSHOTS: Final = REPO / "artifacts" / "screenshots"
CHROMIUM_ENV: Final = "MCPWALL_TEST_CHROMIUM"
CHROMIUM: Final = "/usr/bin/chromium"
# This machine's network is closed: without these chromium keeps trying to reach Google's
# services in the background (and fails). --no-sandbox: CI runs as root.
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Playwright's waits (actions and expect()): generous, the machine runs two test workers.
TIMEOUT_MS: Final = 15_000
SERVER_START_TIMEOUT: Final = 30.0
SERVER_STOP_TIMEOUT: Final = 30.0
SEVERE_IMPACTS: Final = frozenset({"serious", "critical"})

expect.set_options(timeout=TIMEOUT_MS)


# -- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's chromium (or ``$MCPWALL_TEST_CHROMIUM``); skip without it, fail under
    ``CI=true``."""
    named = os.environ.get(CHROMIUM_ENV)
    if named is not None:
        if not os.access(named, os.X_OK):
            _no_browser(f"{CHROMIUM_ENV}={named} is not an executable")
        return named
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found is None:
        _no_browser(f"{CHROMIUM} is missing and no chromium is on PATH")
    return found


def _no_browser(reason: str) -> NoReturn:
    """Skip for want of chromium; under ``CI=true``, fail: CI must run the browser tests."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; with CI=true the browser tests must run")
    pytest.skip(f"{reason}; `make browser` installs Debian's, or set CI=true to fail instead")


class BrowserSession:
    """Playwright and one chromium for the whole test session, lent to one test at a time.

    Playwright's sync API runs an asyncio event loop in a greenlet, and between two sync
    calls it leaves that loop marked as the thread's *running* loop. Left so, every asyncio
    test that runs later in the same process (anyio's runner, ``asyncio.run``) fails with
    "cannot be called from a running event loop". So the mark is put back only while a
    browser test holds the browser (:meth:`lend`), and cleared otherwise.
    """

    def __init__(self, executable: str) -> None:
        self._manager = sync_playwright().start()
        self._loop = asyncio._get_running_loop()
        try:
            self.browser = self._manager.chromium.launch(
                executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
            )
        except BaseException:
            self._manager.stop()
            raise
        self._put_away()

    @contextmanager
    def lend(self) -> Iterator[Browser]:
        """The browser, usable until the block ends."""
        asyncio._set_running_loop(self._loop)
        try:
            yield self.browser
        finally:
            self._put_away()

    def close(self) -> None:
        asyncio._set_running_loop(self._loop)
        try:
            self.browser.close()
        finally:
            self._manager.stop()  # clears the running loop as it ends it

    @staticmethod
    def _put_away() -> None:
        asyncio._set_running_loop(None)


@pytest.fixture(scope="session")
def browser_session(chromium_executable: str) -> Iterator[BrowserSession]:
    session = BrowserSession(chromium_executable)
    yield session
    session.close()


@pytest.fixture
def browser(browser_session: BrowserSession) -> Iterator[Browser]:
    """The session's chromium, for this test."""
    with browser_session.lend() as lent:
        yield lent


# -- a page, and what it did ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsoleEntry:
    type: str  # "log", "warning", "error", …
    text: str
    url: str


@dataclass(slots=True)
class PageLog:
    """What the test's browser context did: request URLs in order, console messages (from
    scripts and from the browser itself, such as CSP refusals), uncaught page errors."""

    requests: list[str] = field(default_factory=list)
    console: list[ConsoleEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Console errors and warnings, and uncaught errors, one line each."""
        return [
            f"console {entry.type}: {entry.text} ({entry.url})"
            for entry in self.console
            if entry.type in ("error", "warning", "assert")
        ] + [f"uncaught: {error}" for error in self.errors]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def foreign_requests(urls: list[str], origin: str) -> list[str]:
    """The URLs in ``urls`` that are not on ``origin`` (``http://127.0.0.1:PORT``)."""
    return [url for url in urls if origin_of(url) != origin]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, server_origin: str, page_log: PageLog) -> Iterator[Page]:
    """A page in a new browser context on ``server_origin`` (so ``page.goto("/")`` works).
    Teardown fails if the context requested anything from another origin."""
    assert server_origin == origin_of(server_origin), f"not an origin: {server_origin}"
    context = browser.new_context(base_url=server_origin)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("request", lambda request: page_log.requests.append(request.url))
    context.on("console", lambda message: page_log.console.append(_entry(message)))
    context.on("weberror", lambda error: page_log.errors.append(str(error.error)))
    try:
        yield context.new_page()
    finally:
        context.close()
    foreign = foreign_requests(page_log.requests, server_origin)
    assert not foreign, f"requests to origins other than {server_origin}: {foreign}"


def _entry(message: ConsoleMessage) -> ConsoleEntry:
    return ConsoleEntry(message.type, message.text, message.location.get("url", ""))


# -- serving an app ------------------------------------------------------------------------------


@contextmanager
def serve_app(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a loopback port; yield its origin.

    The socket is bound and listening before uvicorn starts, so the port is ours (no race
    with another process) and a browser may connect at once."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="asyncio",
        lifespan="off",
        ws="none",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, args=([listener],), name=f"uvicorn-{port}")
    thread.start()
    try:

        def started() -> bool | None:
            if not thread.is_alive():
                raise AssertionError("the test server's thread ended before it started serving")
            return True if server.started else None

        if poll(started, SERVER_START_TIMEOUT) is None:
            raise AssertionError(f"the test server did not start in {SERVER_START_TIMEOUT} s")
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_STOP_TIMEOUT)
        listener.close()
        assert not thread.is_alive(), "the test server did not stop"


# -- screenshots and accessibility ---------------------------------------------------------------


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``artifacts/screenshots/NAME.png``; its path."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"not a plain file name: {name!r}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


_AXE = Axe()


def check_accessibility(page: Page) -> dict[str, Any]:
    """Run axe-core on the page; AssertionError listing every serious or critical violation
    (rule, impact, help, the nodes' selectors). The full results otherwise, so the caller
    can report the minor and moderate ones (``results["violations"]``)."""
    results: dict[str, Any] = _AXE.run(page, options=None).response
    severe = [v for v in results["violations"] if v.get("impact") in SEVERE_IMPACTS]
    if severe:
        lines = [f"{len(severe)} serious or critical accessibility violations on {page.url}:"]
        for violation in severe:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            lines += [f"    at {_selector(node['target'])}" for node in violation["nodes"]]
        raise AssertionError("\n".join(lines))
    return results


def _selector(target: list[Any]) -> str:
    """axe's node target: CSS selectors, a list of them for nodes in frames or shadow roots."""
    return " >>> ".join(part if isinstance(part, str) else " >> ".join(part) for part in target)


# -- a real gateway, one per test module -----------------------------------------------------


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """``mcpwall serve`` in front of the sandbox, for the tests of one module."""
    from tests.dashboard.browser.gateway import Served

    served = Served(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "home")
    try:
        yield served
    finally:
        served.gateway.stop_cleanly()


@pytest.fixture
def server_origin(served: Served) -> str:
    return served.origin

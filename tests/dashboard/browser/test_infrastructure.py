"""The browser-test infrastructure, proven on a tiny Starlette app: htmx 2 and its SSE
extension, as vendored, work in Debian's chromium under the CSP the dashboard uses
(``default-src 'self'``, nothing inline, no eval); and each check the fixtures make can fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import anyio
import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.dashboard.browser.conftest import (
    BrowserSession,
    PageLog,
    check_accessibility,
    foreign_requests,
    screenshot,
    serve_app,
)

STATIC: Final = Path(str(files("mcpwall.dashboard") / "static"))
LOCK: Final = json.loads((STATIC / "vendor" / "vendor.lock.json").read_text(encoding="utf-8"))
HTMX_VERSION: Final = next(p["version"] for p in LOCK["packages"] if p["name"] == "htmx.org")
CSP: Final = "default-src 'self'"

PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="htmx-config" content='{"allowEval":false,"includeIndicatorStyles":false}'>
<title>Browser infrastructure</title>
<script src="/static/vendor/htmx.min.js"></script>
<script src="/static/vendor/htmx-ext-sse.js"></script>
</head>
<body>
<main>
<h1>Browser infrastructure</h1>
<button type="button" hx-get="/fragment" hx-target="#swapped">Load the fragment</button>
<button type="button" hx-get="/unsafe-fragment" hx-target="#swapped">Load an inline script</button>
<p id="swapped">Nothing loaded yet.</p>
<section hx-ext="sse" sse-connect="/events" aria-label="Live feed">
<p id="feed" sse-swap="news" aria-live="polite">Waiting for the server.</p>
</section>
</main>
</body>
</html>
"""


def make_app() -> Starlette:
    """``/`` the page; ``/fragment`` answers a fragment and pushes a message to ``/events``
    (Server-Sent Events: one message on connecting, then one per click)."""
    pushed: asyncio.Queue[str] = asyncio.Queue()
    clicks = itertools.count(1)

    async def home(request: Request) -> Response:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})

    async def fragment(request: Request) -> Response:
        click = next(clicks)
        await pushed.put(f"<span>Pushed after click {click}.</span>")
        return HTMLResponse(f"<strong>Fragment {click} swapped in.</strong>")

    async def unsafe_fragment(request: Request) -> Response:
        return HTMLResponse('<em>Unsafe fragment.</em><script>document.title = "ran"</script>')

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield "event: news\ndata: <span>Connected.</span>\n\n"
            while True:
                yield f"event: news\ndata: {await pushed.get()}\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def elsewhere(request: Request) -> Response:
        """No CSP, and an image from another origin: the same server, named localhost."""
        image = f"http://localhost:{request.url.port}/static/vendor/htmx.LICENSE"
        return HTMLResponse(
            f'<!doctype html><html lang="en"><title>Elsewhere</title>'
            f'<main><h1>Elsewhere</h1><img alt="" src="{image}"></main></html>'
        )

    async def inaccessible(request: Request) -> Response:
        """A button without a name (critical) on a page without a language (serious)."""
        return HTMLResponse(
            "<!doctype html><html><title>Inaccessible</title>"
            '<main><h1>Inaccessible</h1><button type="button"></button></main></html>'
        )

    async def minor(request: Request) -> Response:
        """Only moderate violations: no main landmark, no h1, content outside landmarks."""
        return HTMLResponse(
            '<!doctype html><html lang="en"><title>Minor</title><p>Just a paragraph.</p></html>'
        )

    async def favicon(request: Request) -> Response:
        """Chromium asks for /favicon.ico, and logs a console error when it is not found."""
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/favicon.ico", favicon),
            Route("/fragment", fragment),
            Route("/unsafe-fragment", unsafe_fragment),
            Route("/events", events),
            Route("/elsewhere", elsewhere),
            Route("/inaccessible", inaccessible),
            Route("/minor", minor),
            Mount("/static", StaticFiles(directory=STATIC)),
        ]
    )


@pytest.fixture
def server_origin() -> Iterator[str]:
    with serve_app(make_app()) as origin:
        yield origin


def test_htmx_and_its_sse_extension_work_under_a_strict_csp(
    page: Page, page_log: PageLog, server_origin: str
) -> None:
    response = page.goto("/")
    assert response is not None
    assert response.headers["content-security-policy"] == CSP
    expect(page.locator("#feed")).to_have_text("Connected.")  # the SSE stream is open
    assert page.evaluate(
        "[htmx.version, htmx.config.allowEval, htmx.config.includeIndicatorStyles]"
    ) == [HTMX_VERSION, False, False]  # the htmx-config meta was read

    page.get_by_role("button", name="Load the fragment").click()

    expect(page.locator("#swapped")).to_have_text("Fragment 1 swapped in.")
    expect(page.locator("#feed")).to_have_text("Pushed after click 1.")
    results = check_accessibility(page)
    assert results["violations"] == []
    path = screenshot(page, "browser-infrastructure")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page_log.problems() == []  # no console error or warning: no CSP refusal either
    assert {urlsplit(url).path for url in page_log.requests} == {
        "/",
        "/static/vendor/htmx.min.js",
        "/static/vendor/htmx-ext-sse.js",
        "/events",
        "/fragment",
    }
    assert foreign_requests(page_log.requests, server_origin) == []


def test_a_csp_refusal_shows_in_the_page_log(page: Page, page_log: PageLog) -> None:
    """The negative control for ``problems() == []`` above: an inline script swapped in by
    htmx is refused by the CSP, and the refusal reaches the log."""
    page.goto("/")
    expect(page.locator("#feed")).to_have_text("Connected.")

    with page.expect_console_message(lambda message: message.type == "error"):
        page.get_by_role("button", name="Load an inline script").click()

    expect(page.locator("#swapped")).to_have_text("Unsafe fragment.")
    assert page.title() == "Browser infrastructure"  # the script did not run
    (problem,) = page_log.problems()
    assert "Content Security Policy" in problem
    assert "default-src 'self'" in problem


def test_a_request_to_another_origin_is_recorded(
    page: Page, page_log: PageLog, server_origin: str
) -> None:
    """The negative control for the ``page`` fixture's teardown check: localhost is another
    origin than 127.0.0.1, though the same server."""
    port = urlsplit(server_origin).port
    image = f"http://localhost:{port}/static/vendor/htmx.LICENSE"

    with page.expect_request(image):
        page.goto("/elsewhere")

    assert foreign_requests(page_log.requests, server_origin) == [image]
    page_log.requests.remove(image)  # seen: the teardown would fail the test on it


def test_check_accessibility_fails_on_serious_and_critical_violations(page: Page) -> None:
    page.goto("/inaccessible")

    with pytest.raises(AssertionError) as raised:
        check_accessibility(page)

    report = str(raised.value)
    assert "2 serious or critical accessibility violations" in report
    assert "- button-name (critical): Buttons must have discernible text" in report
    assert "- html-has-lang (serious): <html> element must have a lang attribute" in report
    assert "    at button" in report
    assert "    at html" in report


def test_check_accessibility_returns_the_minor_violations(page: Page) -> None:
    page.goto("/minor")

    results = check_accessibility(page)

    found = {(v["id"], v["impact"]) for v in results["violations"]}
    assert ("region", "moderate") in found
    assert all(impact in ("minor", "moderate") for _, impact in found)


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_asyncio_runs_between_browser_tests(browser_session: BrowserSession) -> None:
    """Playwright's sync API leaves its loop marked running in this thread; the session
    clears the mark between tests, so asyncio tests in the same worker still run, and puts
    it back for the next browser test."""
    assert asyncio._get_running_loop() is None
    assert asyncio.run(answer()) == 42
    assert anyio.run(answer) == 42

    with browser_session.lend() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.set_content("<p>Still here.</p>")
        text = page.inner_text("p")
        context.close()

    assert text == "Still here."
    assert asyncio.run(answer()) == 42

"""HTTP plumbing shared by the Streamable HTTP and legacy SSE sessions.

The requests go through :class:`~mcpwall.adapters.upstream.httpclient.HttpClient`, one per
upstream session, which keeps its connections alive between calls, sends only the
upstream's registered headers (with the MCP headers each request needs) and follows no
redirect. Its exceptions become :class:`UpstreamError` here, in :func:`http_errors`, and
nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

from mcpwall.adapters.upstream.http11 import ConnectError, HttpClientError, Response
from mcpwall.adapters.upstream.httpclient import HttpClient
from mcpwall.adapters.upstream.sse import Event, EventDecoder, EventTooLargeError
from mcpwall.core.errors import UpstreamProtocolError, UpstreamUnavailable
from mcpwall.core.registry import Upstream

JSON: Final = "application/json"
EVENT_STREAM: Final = "text/event-stream"
ACCEPT_BOTH: Final = f"{JSON}, {EVENT_STREAM}"


def new_client(upstream: Upstream, *, connect_timeout: float) -> HttpClient:
    """An HTTP client for one session with ``upstream``, sending its registered headers."""
    return HttpClient(upstream.headers, connect_timeout=connect_timeout)


class http_errors:  # noqa: N801 (used as a function: ``with http_errors(...)``)
    """Turn the HTTP client's exceptions inside the block into :class:`UpstreamUnavailable`.

    A class rather than a ``@contextmanager`` generator: it wraps every upstream request,
    and entering a class costs less than starting a generator and its wrapper.
    """

    __slots__ = ("upstream", "url")

    def __init__(self, upstream: str, url: str) -> None:
        self.upstream = upstream
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, ConnectError):  # no connection: nothing was sent
            reason = f"cannot connect to {self.url}: {_why(error)}"
            raise UpstreamUnavailable(self.upstream, reason, unsent=True) from None
        if isinstance(error, HttpClientError):
            reason = f"the connection to {self.url} failed: {error}"
            raise UpstreamUnavailable(self.upstream, reason) from None


def _why(error: ConnectError) -> str:
    if error.os_error is None:
        return "timed out"
    if isinstance(error.os_error, ConnectionRefusedError):
        return "connection refused (is it running, on that port?)"
    return error.os_error.strerror or str(error.os_error)


async def events(upstream: str, response: Response, decoder: EventDecoder) -> AsyncIterator[Event]:
    """The events of an SSE response body, as they arrive."""
    try:
        async for chunk in response.chunks():
            for event in decoder.feed(chunk):
                yield event
    except EventTooLargeError as error:
        raise UpstreamProtocolError(upstream, str(error)) from None


def carries_message(event: Event) -> bool:
    """Whether ``event`` carries a JSON-RPC message: a ``message`` event with data. One with
    empty data only primes the stream for resumption (2025-11-25 transports §Streamable HTTP)."""
    return event.event == "message" and not event.data.isspace() and event.data != ""


async def read_body(upstream: str, response: Response, limit: int) -> bytes:
    """The whole body of ``response``; :class:`UpstreamProtocolError` if over ``limit`` bytes."""
    body = await response.read(limit)
    if len(body) > limit:
        raise UpstreamProtocolError(upstream, f"it sent a body over the limit of {limit} bytes")
    return body


def status_problem(method: str, response: Response) -> str:
    """Why an HTTP status refuses ``method``, in words, with a hint where one helps."""
    reason = f"it answered {method} with HTTP {response.status} {response.reason or ''}".rstrip()
    if response.status in (401, 403):
        return f"{reason} (check the credentials registered for this upstream)"
    if 300 <= response.status < 400:
        where = response.headers.get("Location", "elsewhere")
        return f"{reason} to {where} (register that URL instead: redirects are not followed)"
    return reason


def content_type(response: Response) -> str:
    """The media type of ``response`` without parameters, lower-case."""
    return response.content_type.lower()


def same_origin(base: str, other: str) -> bool:
    """Whether ``other`` has the scheme, host and port of ``base``."""
    return _origin(base) == _origin(other)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(scheme)


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

"""HTTP plumbing shared by the Streamable HTTP and legacy SSE sessions, on aiohttp.

aiohttp because DESIGN §2 measured it: a relay added about 0.5 ms per call with it against
1.8 ms with httpx. One :class:`aiohttp.ClientSession` per upstream session keeps its
connections alive between calls.

Only the upstream's registered headers are sent (with the MCP headers each request needs):
the agent's ``Authorization`` never reaches this layer, and the client is built with
``trust_env=False`` so no proxy or ``.netrc`` credential of ours is added either. Redirects
are not followed: a redirect would carry the upstream's credentials to wherever it points.

aiohttp's exceptions become :class:`UpstreamError` here, in :func:`http_errors`, and nowhere
else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from mcpwall.adapters.upstream.sse import Event, EventDecoder, EventTooLargeError
from mcpwall.core.errors import UpstreamProtocolError, UpstreamUnavailable
from mcpwall.core.registry import Upstream

JSON: Final = "application/json"
EVENT_STREAM: Final = "text/event-stream"
ACCEPT_BOTH: Final = f"{JSON}, {EVENT_STREAM}"


def new_client(upstream: Upstream, *, connect_timeout: float) -> aiohttp.ClientSession:
    """An HTTP client for one session with ``upstream``, sending its registered headers."""
    return aiohttp.ClientSession(
        headers=dict(upstream.headers),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        trust_env=False,
        auto_decompress=True,
    )


@contextlib.contextmanager
def http_errors(upstream: str, url: str) -> Iterator[None]:
    """Turn aiohttp's exceptions inside the block into :class:`UpstreamUnavailable`."""
    try:
        yield
    except aiohttp.ClientConnectorError as error:
        raise UpstreamUnavailable(upstream, f"cannot connect to {url}: {_why(error)}") from None
    except aiohttp.ServerTimeoutError:
        raise UpstreamUnavailable(upstream, f"timed out connecting to {url}") from None
    except aiohttp.ClientError as error:
        reason = str(error) or type(error).__name__
        raise UpstreamUnavailable(upstream, f"the connection to {url} failed: {reason}") from None


def _why(error: aiohttp.ClientConnectorError) -> str:
    if isinstance(error.os_error, ConnectionRefusedError):
        return "connection refused (is it running, on that port?)"
    return error.os_error.strerror or str(error.os_error)


async def events(
    upstream: str, response: aiohttp.ClientResponse, decoder: EventDecoder
) -> AsyncIterator[Event]:
    """The events of an SSE response body, as they arrive."""
    try:
        async for chunk in response.content.iter_any():
            for event in decoder.feed(chunk):
                yield event
    except EventTooLargeError as error:
        raise UpstreamProtocolError(upstream, str(error)) from None


def carries_message(event: Event) -> bool:
    """Whether ``event`` carries a JSON-RPC message: a ``message`` event with data. One with
    empty data only primes the stream for resumption (2025-11-25 transports §Streamable HTTP)."""
    return event.event == "message" and not event.data.isspace() and event.data != ""


async def read_body(upstream: str, response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of ``response``; :class:`UpstreamProtocolError` if over ``limit`` bytes."""
    body = await response.content.read(limit + 1)
    if len(body) > limit:
        raise UpstreamProtocolError(upstream, f"it sent a body over the limit of {limit} bytes")
    return body


def status_problem(method: str, response: aiohttp.ClientResponse) -> str:
    """Why an HTTP status refuses ``method``, in words, with a hint where one helps."""
    reason = f"it answered {method} with HTTP {response.status} {response.reason or ''}".rstrip()
    if response.status in (401, 403):
        return f"{reason} (check the credentials registered for this upstream)"
    if 300 <= response.status < 400:
        where = response.headers.get("Location", "elsewhere")
        return f"{reason} to {where} (register that URL instead: redirects are not followed)"
    return reason


def content_type(response: aiohttp.ClientResponse) -> str:
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

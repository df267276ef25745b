"""The upstream HTTP client: requests over pooled keep-alive HTTP/1.1 connections.

One :class:`HttpClient` serves one upstream session. It sends the upstream's registered
headers with every request, and nothing of the agent's: the agent's ``Authorization`` never
reaches this layer, no proxy or ``.netrc`` setting of the environment is read, and redirects
are not followed (one would carry the upstream's credentials wherever it points). It asks for
``identity`` content coding, so bodies arrive as the upstream wrote them.

Why our own client rather than aiohttp or httpx: see :mod:`.http11`. What it leaves out —
HTTP/2, proxies, cookies, redirects, decompression — the gateway does not want on this leg.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from mcpwall.adapters.upstream.http11 import ConnectError, Connection, HttpClientError, Response

USER_AGENT: Final = "mcpwall"
# Connections one client may have at once (aiohttp's default too), and how many it keeps idle.
MAX_CONNECTIONS: Final = 100
MAX_IDLE: Final = 16
# How long an idle connection is kept. Below the 5 s after which uvicorn and Node's http
# servers close theirs, so that a request is not sent down a connection the upstream is
# closing at that moment (a POST is never retried: the upstream may have acted on it).
IDLE_SECONDS: Final = 4.0
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# RFC 9110 §5.6.2: the characters of a header name.
_TOKEN: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a URL's requests go: its origin, the Host header and the request target."""

    scheme: str
    host: str
    port: int
    host_header: str
    path: str
    basic_auth: str | None


class Pending:
    """A request on its way: ``await`` it for the :class:`Response`, or use it as an async
    context manager that releases the response (or drops its connection on an error)."""

    __slots__ = ("_response", "_sending")

    def __init__(self, sending: Coroutine[Any, Any, Response]) -> None:
        self._sending = sending
        self._response: Response | None = None

    def __await__(self) -> Generator[Any, None, Response]:
        return self._sending.__await__()

    async def __aenter__(self) -> Response:
        self._response = await self._sending
        return self._response

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._response is not None
        if kind is None:
            self._response.release()
        else:
            self._response.close()


class HttpClient:
    """Pooled HTTP/1.1 requests carrying ``headers`` (the upstream's registered ones).

    ``connect_timeout`` bounds opening a connection; how long an answer may take is the
    caller's to bound. :class:`~mcpwall.adapters.upstream.http11.HttpClientError` on failure.
    """

    def __init__(
        self,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        max_connections: int = MAX_CONNECTIONS,
        max_idle: int = MAX_IDLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registered = dict(headers)
        for name, value in self._registered.items():
            _check_header(name, value)
        self._registered_names = frozenset(name.lower() for name in self._registered)
        self._registered_lines = "".join(f"{n}: {v}\r\n" for n, v in self._registered.items())
        self._connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_idle
        self._clock = clock
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._busy: set[Connection] = set()
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    def post(self, url: str, *, headers: Mapping[str, str], data: bytes) -> Pending:
        return Pending(self._send("POST", url, headers, data))

    def get(self, url: str, *, headers: Mapping[str, str]) -> Pending:
        return Pending(self._send("GET", url, headers, None))

    def delete(self, url: str, *, headers: Mapping[str, str]) -> Pending:
        return Pending(self._send("DELETE", url, headers, None))

    async def close(self) -> None:
        """Close every connection; requests after this fail."""
        self._closed = True
        for connection in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            connection.abort()
        self._idle.clear()

    # -- one request --------------------------------------------------------------------------

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        if self._closed:
            raise HttpClientError("the client is closed")
        target = self._target(url)
        request = self._request_bytes(method, target, headers, body)
        await self._slots.acquire()
        try:
            connection = self._idle_connection(target) or await self._connect(target)
        except BaseException:
            self._slots.release()
            raise
        self._busy.add(connection)
        return await connection.exchange(request)

    def _request_bytes(
        self, method: str, target: _Target, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
        own = {name.lower() for name in headers}
        if own.isdisjoint(self._registered_names):
            lines.append(self._registered_lines)
        else:  # the request's own value of a header wins over the registered one
            lines.extend(
                f"{n}: {v}\r\n" for n, v in self._registered.items() if n.lower() not in own
            )
        if target.basic_auth is not None and not {"authorization"} & (own | self._registered_names):
            lines.append(f"Authorization: Basic {target.basic_auth}\r\n")
        for name, value in headers.items():
            _check_header(name, value)
            lines.append(f"{name}: {value}\r\n")
        if "user-agent" not in own and "user-agent" not in self._registered_names:
            lines.append(f"User-Agent: {USER_AGENT}\r\n")
        lines.append("Accept-Encoding: identity\r\n")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        try:
            head = "".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            raise HttpClientError("a header value has characters HTTP/1.1 can't carry") from None
        return head + body if body else head

    # -- the pool -----------------------------------------------------------------------------

    def _idle_connection(self, target: _Target) -> Connection | None:
        idle = self._idle.get((target.scheme, target.host, target.port))
        if not idle:
            return None
        too_old = self._clock() - IDLE_SECONDS
        while idle:
            connection = idle.pop()
            if connection.idle_and_open and connection.idle_since > too_old:
                return connection
            connection.abort()
        return None

    async def _connect(self, target: _Target) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if target.scheme == "https" else None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    Connection,
                    target.host,
                    target.port,
                    ssl=tls,
                    server_hostname=target.host if tls is not None else None,
                )
        except TimeoutError:
            raise ConnectError("timed out connecting", None) from None
        except OSError as error:
            raise ConnectError(str(error), error) from None
        connection.on_done = self._done_with
        connection.origin = (target.scheme, target.host, target.port)
        return connection

    def _done_with(self, connection: Connection, keep: bool) -> None:
        """A connection finished an exchange (``keep``: reusable) or was lost."""
        if connection in self._busy:
            self._busy.discard(connection)
            self._slots.release()
        idle = self._idle.setdefault(connection.origin, [])
        if not keep:
            if connection in idle:
                idle.remove(connection)
            return
        if self._closed or len(idle) >= self._max_idle:
            connection.abort()
            return
        connection.idle_since = self._clock()
        idle.append(connection)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_target(url)
            if len(self._targets) < 64:  # a session speaks to one or two URLs
                self._targets[url] = target
        return target


def _parse_target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise HttpClientError(f"{url!r} is not an http:// or https:// URL with a host")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise HttpClientError(f"{url!r} has an invalid port") from None
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    basic_auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        basic_auth = base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return _Target(scheme, parts.hostname, port, netloc, path, basic_auth)


def _check_header(name: str, value: str) -> None:
    """Refuse a header that would break the request's framing (a line break, say)."""
    if not name or not _TOKEN.issuperset(name):
        raise HttpClientError(f"{name!r} is not a valid header name")
    if "\r" in value or "\n" in value or "\0" in value:
        raise HttpClientError(f"the value of the {name} header has a line break or NUL")

"""Prompts, resources, completion and logging levels on the aggregate ``/mcp`` endpoint.

``tools/list`` and ``tools/call`` on ``/mcp`` are the pipeline's (they go through policy);
this module serves the rest of what an aggregate endpoint offers, with the names and URIs of
``core/mcp/aggregate.py`` (``{upstream}__{prompt}``, ``mcpwall://{upstream}/{uri}``):

* ``prompts/list``, ``resources/list``, ``resources/templates/list``: every bound upstream's
  entries, renamed, one upstream's page at a time in the endpoint's order, with the gateway's
  sealed cursors. Upstreams that do not offer the feature are skipped; one that answers
  "method not found" has none to list.
* ``prompts/get``, ``resources/read``, ``resources/subscribe``/``unsubscribe`` and
  ``completion/complete``: sent to the upstream their name or URI says, with its own name or
  URI, and relayed like any request on ``/mcp/{upstream}`` (recorded in the proxy log, with
  the agent's stream for progress and log messages).
* ``logging/setLevel`` (legacy sessions): sent to every bound upstream whose session offers
  logging, answered ``{}`` when all took it, else with the first refusal, naming its
  upstream; one proxy-log row for them all.

An upstream that is down, or fails a list with any other error, fails that request with an
error naming it, as ``tools/list`` on ``/mcp`` does: a list that silently lacks an upstream's
entries would look complete. The other upstreams' pages are served as before, and so is
everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from mcpwall.core.errors import (
    InvalidParams,
    MethodNotFound,
    UpstreamError,
    UpstreamProtocolError,
)
from mcpwall.core.jsonrpc import Request, describe
from mcpwall.core.mcp import CursorSeal, PageCursor, after, first_page, resume
from mcpwall.core.mcp.aggregate import (
    LISTINGS,
    ROUTED_METHODS,
    Listing,
    Route,
    aggregate_page,
    empty_page,
    for_aggregate,
    listed_values,
    rewrap_read,
    route,
)
from mcpwall.core.proxylog import Outcome
from mcpwall.gateway.upstreams import MAX_LIST_PAGES, UpstreamPool
from mcpwall.ports.upstream import Message, Receiver

if TYPE_CHECKING:  # the pipeline builds an AggregateEndpoint, and lends it these
    from mcpwall.gateway.pipeline import Caller

METHOD_NOT_FOUND = -32601
SET_LEVEL = "logging/setLevel"

# What the pipeline lends: forwarding one routed request (recorded, answered for the era),
# recording a request it answered itself, and stamping a result for the agent's era.
Forward = Callable[["Caller", Request, str, Mapping[str, object] | None], Awaitable[Message]]
Record = Callable[["Caller", Request, str, Outcome], Awaitable[None]]
Stamp = Callable[["Caller", str, Message], Message]


class AggregateEndpoint:
    """Serves the aggregate endpoint's prompts, resources and completion."""

    def __init__(
        self,
        pool: UpstreamPool,
        cursors: CursorSeal,
        *,
        forward: Forward,
        record: Record,
        stamp: Stamp,
    ) -> None:
        self.pool = pool
        self.cursors = cursors
        self._forward = forward
        self._record = record
        self._stamp = stamp

    async def handle(self, caller: Caller, request: Request) -> Message:
        """Answer one request on ``/mcp`` that is not about tools."""
        listing = LISTINGS.get(request.method)
        if listing is not None:
            return await self._list(caller, request, listing)
        if request.method in ROUTED_METHODS:
            return await self._routed(caller, request)
        if request.method == SET_LEVEL:
            return await self._set_level(caller, request)
        raise MethodNotFound(
            f"{request.method} is served on /mcp/UPSTREAM; the aggregate /mcp endpoint serves "
            "tools, prompts, resources, completion and logging levels (names UPSTREAM__NAME, "
            "resource URIs mcpwall://UPSTREAM/URI)"
        )

    # -- lists -----------------------------------------------------------------------------------

    async def _list(self, caller: Caller, request: Request, listing: Listing) -> Message:
        upstreams = caller.upstreams
        scope = caller.cursor_scope(listing.method)
        params = request.params or {}
        if "cursor" in params:
            start: PageCursor | None = resume(self.cursors.open(params["cursor"], scope), upstreams)
        else:
            start = first_page(upstreams)
        page = await self._offering(caller, request, start, listing)
        if page is None:
            await self._record(caller, request, "", "not_forwarded")
            return self._stamp(caller, listing.method, {"result": empty_page(listing)})
        response = await self._fetch(caller, request, page, listing)
        if "error" in response:
            return response
        result = response["result"]
        assert isinstance(result, dict)  # _fetch answers an error or a result object
        upstream_next = result.get("nextCursor")
        following = after(
            page, upstream_next if isinstance(upstream_next, str) else None, upstreams
        )
        following = await self._offering(caller, request, following, listing, ahead=True)
        sealed = None if following is None else self.cursors.seal(following, scope)
        answer = aggregate_page(result, listing, page.upstream, next_cursor=sealed)
        return self._stamp(caller, listing.method, {"result": answer})

    async def _offering(
        self,
        caller: Caller,
        request: Request,
        page: PageCursor | None,
        listing: Listing,
        *,
        ahead: bool = False,
    ) -> PageCursor | None:
        """``page``, or the first upstream after it that offers ``listing``'s feature.

        Looking ``ahead`` (for the next page's cursor), an upstream that can't be reached is
        where the next page starts: that page, not this one, fails for it.
        """
        upstreams = caller.upstreams
        while page is not None and page.upstream_cursor is None:
            try:
                if await self._offers(caller, page.upstream, listing):
                    return page
            except UpstreamError:
                if ahead:
                    return page
                await self._record(caller, request, page.upstream, "unreachable")
                raise
            page = after(page, None, upstreams)
        return page

    async def _offers(self, caller: Caller, upstream: str, listing: Listing) -> bool:
        session = await self.pool.session(caller.owner, upstream, caller.offer)
        return isinstance(session.negotiated.capabilities.get(listing.capability), dict)

    async def _fetch(
        self, caller: Caller, request: Request, page: PageCursor, listing: Listing
    ) -> Message:
        """One upstream page: a result object, or an error naming the upstream (recorded)."""
        params: dict[str, object] | None = None
        if page.upstream_cursor is not None:
            params = {"cursor": page.upstream_cursor}
        try:
            response = await self.pool.request(
                caller.owner, page.upstream, caller.offer, listing.method, params
            )
        except UpstreamError:
            await self._record(caller, request, page.upstream, "unreachable")
            raise
        error = response.get("error")
        if isinstance(error, dict) and error.get("code") == METHOD_NOT_FOUND:
            response = {"result": empty_page(listing)}  # it offers the feature, not this list
        elif isinstance(error, dict):
            await self._record(caller, request, page.upstream, "protocol_error")
            return _naming(response, page.upstream)
        if not isinstance(response.get("result"), dict):
            await self._record(caller, request, page.upstream, "protocol_error")
            raise UpstreamProtocolError(page.upstream, f"{listing.method} answered no result")
        await self._record(caller, request, page.upstream, "ok")
        return response

    # -- requests naming a prompt or a resource --------------------------------------------------

    async def _routed(self, caller: Caller, request: Request) -> Message:
        try:
            target = route(request.method, request.params)
        except InvalidParams:
            await self._record(caller, request, "", "not_forwarded")
            raise
        upstream = target.upstream
        if upstream is None:
            upstream = await self._claimant(caller, request, target)
        elif upstream not in caller.principal.bindings:
            await self._record(caller, request, "", "not_forwarded")
            raise target.unknown()
        response = await self._forward(caller, request, upstream, target.params)
        if target.rewrap and request.method == "resources/read" and "result" in response:
            return {**response, "result": rewrap_read(response["result"], upstream)}
        return response

    async def _claimant(self, caller: Caller, request: Request, target: Route) -> str:
        """The one upstream a raw URI can be meant for: the only bound upstream offering
        resources, or the only one listing the URI as it is; refused when none or several."""
        listing = target.claimed_by
        assert listing is not None  # a route without an upstream names where to look
        offering = []
        for upstream in caller.upstreams:
            try:
                if await self._offers(caller, upstream, listing):
                    offering.append(upstream)
            except UpstreamError:
                await self._record(caller, request, upstream, "unreachable")
                raise
        if len(offering) == 1:
            return offering[0]
        claimants = [
            upstream
            for upstream in offering
            if target.asked in await self._everything_listed(caller, request, upstream, listing)
        ]
        if len(claimants) == 1:
            return claimants[0]
        await self._record(caller, request, "", "not_forwarded")
        raise target.unknown(claimants)

    async def _everything_listed(
        self, caller: Caller, request: Request, upstream: str, listing: Listing
    ) -> set[str]:
        """Every URI (or template) ``upstream`` lists, all pages; none when it fails to list."""
        found: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            params: dict[str, object] | None = None if cursor is None else {"cursor": cursor}
            try:
                response = await self.pool.request(
                    caller.owner, upstream, caller.offer, listing.method, params
                )
            except UpstreamError:
                await self._record(caller, request, upstream, "unreachable")
                raise
            result = response.get("result")
            found.update(listed_values(result, listing))
            upstream_next = result.get("nextCursor") if isinstance(result, dict) else None
            if not isinstance(upstream_next, str):
                break
            cursor = upstream_next
        return found

    # -- logging levels --------------------------------------------------------------------------

    async def _set_level(self, caller: Caller, request: Request) -> Message:
        """Set the level of every bound upstream offering logging (see the module's docstring).
        Every one is asked, even after one refused: the others take the level either way."""
        level = (request.params or {}).get("level")
        if not isinstance(level, str):
            await self._record(caller, request, "", "not_forwarded")
            raise InvalidParams(
                f'{SET_LEVEL}: expected "level" as a string, found {describe(level)}'
            )
        offering = await self._offering_logging(caller, request)
        if not offering:
            await self._record(caller, request, "", "not_forwarded")
            raise MethodNotFound(f"{SET_LEVEL}: no upstream bound to this grant offers logging")
        failed: tuple[str, Message | UpstreamError] | None = None
        for upstream in offering:
            try:
                response = await self.pool.request(
                    caller.owner, upstream, caller.offer, SET_LEVEL, dict(request.params or {})
                )
            except UpstreamError as error:
                failed = failed or (upstream, error)
                continue
            if isinstance(response.get("error"), dict):
                failed = failed or (upstream, response)
        if failed is None:
            await self._record(caller, request, "", "ok")
            return {"result": {}}
        upstream, failure = failed
        if isinstance(failure, UpstreamError):
            await self._record(caller, request, upstream, "unreachable")
            raise failure
        await self._record(caller, request, upstream, "protocol_error")
        return _naming(failure, upstream)

    async def _offering_logging(self, caller: Caller, request: Request) -> list[str]:
        """The bound upstreams whose session offers logging, in the endpoint's order."""
        offering = []
        for upstream in caller.upstreams:
            try:
                session = await self.pool.session(caller.owner, upstream, caller.offer)
            except UpstreamError:
                await self._record(caller, request, upstream, "unreachable")
                raise
            if isinstance(session.negotiated.capabilities.get("logging"), dict):
                offering.append(upstream)
        return offering


def _naming(response: Message, upstream: str) -> Message:
    """An upstream's error response, its message saying which upstream refused."""
    error = response["error"]
    assert isinstance(error, dict)  # only error objects are handed here
    return {"error": {**error, "message": f'upstream "{upstream}": {error.get("message")}'}}


def session_listener(push: Receiver, upstream: str) -> Receiver:
    """What an aggregate session hears from ``upstream``: its notifications, a resource
    update naming the resource by the URI ``/mcp`` lists."""

    async def listener(message: Message) -> None:
        await push(for_aggregate(upstream, message))

    return listener

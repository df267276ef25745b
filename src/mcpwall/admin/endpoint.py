"""From an HTTP request to an operation and back.

An :class:`Operation` is a plain synchronous function of a :class:`Call` (who is calling, with
what) to a :class:`Reply`, with the role it needs and the body it takes. :func:`resource`
makes one Starlette route per path that dispatches on the method, so that a method the path
does not have gets 405 with the right ``Allow`` header.

Request handling, in order: match the method; take the bearer token; then, off the event loop
(the store is synchronous), authenticate, authorize, run the operation and render the JSON.
Without a body that is one trip to the thread pool. With one, it is two: the token is
checked first, so an unauthenticated client cannot make the server read or parse anything,
then the body is read (up to a limit) and the operation runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mcpwall.admin.auth import authorize, bearer_token
from mcpwall.admin.errors import ApiError
from mcpwall.admin.responses import JSON
from mcpwall.control import ControlPlane, admin_actor
from mcpwall.core.policy.parse import MAX_DOCUMENT_BYTES
from mcpwall.core.registry import AdminToken, Role
from mcpwall.ports.store import Store

# The largest body read: a policy document at its own limit.
MAX_BODY_BYTES = MAX_DOCUMENT_BYTES


class Body(Enum):
    """What an operation takes as its request body, by media type."""

    NONE = ()
    JSON = ("application/json",)
    # A policy document exactly as a file: JSON or YAML, told apart by its content.
    POLICY = (
        "application/json",
        "application/yaml",
        "application/x-yaml",
        "text/yaml",
        "text/x-yaml",
        "text/plain",
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One authorized call, as an operation sees it."""

    control: ControlPlane
    caller: AdminToken
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes = b""

    @property
    def store(self) -> Store:
        return self.control.store

    @property
    def actor(self) -> str:
        """Who the audit trail names for a change made by this call."""
        return admin_actor(self.caller)


@dataclass(frozen=True, slots=True)
class Reply:
    """What an operation answers: a JSON value and a status (204 sends no body)."""

    content: object = None
    status: int = 200


Run = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Operation:
    """One endpoint: the role it needs, the query parameters and the body it takes."""

    role: Role
    run: Run
    body: Body = Body.NONE
    query: frozenset[str] = frozenset()


def resource(control: ControlPlane, path: str, **methods: Operation) -> Route:
    """A route for ``path`` serving each ``methods`` key (``get``, ``post``…) with its operation."""
    operations = {method.upper(): operation for method, operation in methods.items()}
    if "GET" in operations:
        operations["HEAD"] = operations["GET"]  # the server sends the headers only

    async def endpoint(request: Request) -> Response:
        operation = operations[request.method]
        token = bearer_token(request.headers)
        if operation.body is Body.NONE:
            return await run_in_threadpool(_serve, control, token, operation, request)
        caller = await run_in_threadpool(authorize, control, token, operation.role)
        check_content_type(request, operation.body)
        call = _call(control, caller, operation, request, await read_body(request))
        return await run_in_threadpool(_respond, operation, call)

    return Route(path, endpoint, methods=list(operations))


def _serve(control: ControlPlane, token: str, operation: Operation, request: Request) -> Response:
    caller = authorize(control, token, operation.role)
    return _respond(operation, _call(control, caller, operation, request))


def _call(
    control: ControlPlane,
    caller: AdminToken,
    operation: Operation,
    request: Request,
    body: bytes = b"",
) -> Call:
    check_query(request.query_params, operation.query)
    params = {key: str(value) for key, value in request.path_params.items()}
    return Call(control, caller, params, dict(request.query_params), body)


def _respond(operation: Operation, call: Call) -> Response:
    reply = operation.run(call)
    if reply.status == 204:
        return Response(status_code=204)
    return JSON(reply.content, reply.status)


def check_query(query: QueryParams, accepted: frozenset[str]) -> None:
    """Refuse query parameters the operation does not take, or that are given twice."""
    for key in query:
        if key not in accepted:
            expected = ", ".join(sorted(accepted)) or "none"
            message = f'unknown query parameter "{key}" (expected: {expected})'
            raise ApiError(422, "invalid_query", message)
        if len(query.getlist(key)) > 1:
            raise ApiError(422, "invalid_query", f'query parameter "{key}" is given twice')


def check_content_type(request: Request, body: Body) -> None:
    """Refuse a body of a media type the operation does not take (415)."""
    given = request.headers.get("content-type")
    if given is None:
        return  # an untyped body is read as what the operation takes
    media_type = given.partition(";")[0].strip().lower()
    if media_type not in body.value:
        expected = ", ".join(body.value)
        message = f'cannot read a body of type "{media_type}" here (expected {expected})'
        raise ApiError(415, "unsupported_media_type", message)


async def read_body(request: Request) -> bytes:
    """The request body, up to the limit: refused unread if its declared length is over it,
    or as soon as it passes it (a chunked body declares no length)."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> ApiError:
    message = f"the request body is over {MAX_BODY_BYTES} bytes (expected at most that)"
    return ApiError(413, "body_too_large", message)

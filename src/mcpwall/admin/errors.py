"""Errors as the admin API answers them: the one place an exception becomes an HTTP response.

Every error has the same body, ``{"error": {"code", "message", "problems"?}}``: ``code`` is
stable (clients branch on it), ``message`` says what was wrong and what was expected, and
``problems`` lists every problem of an invalid document or body, each at its JSON pointer.

::

    ApiError                an answer decided by the API itself (401, 403, 413, 415, …)
    MCPWallError            mcpwall's own errors, mapped by :func:`api_error` below:
      PolicyError             422 invalid_policy, with every problem
      BodyError               422 invalid_body, with every problem
        MalformedBodyError    400 malformed_json
      InvalidValue            422 invalid_value
      NotFound                404 not_found
      Conflict                409 conflict
      StoreUnavailable        503 store_unavailable
      UpstreamError           502 upstream_unavailable (its reason holds no secret)
    HTTPException           Starlette's: 404 not_found (no route), 405 method_not_allowed
    anything else           500 internal_error, saying nothing (the server logs it)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mcpwall.admin.responses import JSON
from mcpwall.core.errors import (
    Conflict,
    DocumentError,
    InvalidValue,
    MCPWallError,
    NotFound,
    PolicyError,
    Problem,
    StoreUnavailable,
    UpstreamError,
)

logger = logging.getLogger("mcpwall.admin")


class ApiError(Exception):
    """An error response: status, stable code, message, and any problems or headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.problems = tuple(problems)
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {message}")


class BodyError(DocumentError):
    """A request body whose JSON has the wrong shape: wrong types, unknown or missing fields."""

    what = "request body"


class MalformedBodyError(BodyError):
    """A request body that is not JSON at all."""


# Starlette raises HTTPException for requests that match no route or no method.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def api_error(exc: Exception) -> ApiError:
    """The response for an exception: mcpwall's errors mapped, anything else a 500."""
    match exc:
        case ApiError():
            return exc
        case MalformedBodyError():
            return ApiError(400, "malformed_json", exc.problems[0].message, exc.problems)
        case BodyError():
            return ApiError(422, "invalid_body", _problems_message(exc), exc.problems)
        case PolicyError():
            return ApiError(422, "invalid_policy", _problems_message(exc), exc.problems)
        case InvalidValue():
            return ApiError(422, "invalid_value", str(exc))
        case NotFound():
            return ApiError(404, "not_found", str(exc))
        case Conflict():
            return ApiError(409, "conflict", str(exc))
        case StoreUnavailable():
            # The reason and URL are for the operator's log, not for whoever is calling.
            logger.error("%s", exc)
            return ApiError(503, "store_unavailable", "the database is unavailable; try again")
        case UpstreamError():
            # Reasons are made free of the upstream's secrets where they are raised (probe).
            return ApiError(502, "upstream_unavailable", str(exc))
        case HTTPException():
            code = _HTTP_CODES.get(exc.status_code, "http_error")
            return ApiError(exc.status_code, code, exc.detail, headers=exc.headers or {})
    # Starlette raises it again once this answer is sent, and the server logs its traceback.
    return ApiError(500, "internal_error", "internal error; the server log has the details")


def _problems_message(exc: DocumentError) -> str:
    count = len(exc.problems)
    noun = "problem" if count == 1 else "problems"
    first = f": {exc.problems[0]}" if count == 1 else ""
    return f"invalid {exc.what} ({count} {noun}){first}"


def error_response(error: ApiError) -> Response:
    """``error`` as a JSON response."""
    body: dict[str, object] = {"code": error.code, "message": error.message}
    if error.problems:
        body["problems"] = [{"pointer": p.pointer, "message": p.message} for p in error.problems]
    return JSON({"error": body}, error.status, headers=error.headers)


async def handle_exception(request: Request, exc: Exception) -> Response:
    """The Starlette exception handler for every error the API raises on purpose."""
    if isinstance(exc, HTTPException) and exc.status_code in (404, 405):
        exc = _routing_error(request, exc)
    return error_response(api_error(exc))


def _routing_error(request: Request, exc: HTTPException) -> ApiError:
    """Starlette's "Not Found" and "Method Not Allowed", told with the path and methods."""
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        message = f"no endpoint for {where} (the API is described at /api/openapi.json)"
        return ApiError(404, "not_found", message)
    # Starlette keeps a route's methods in a set: put them in one order, whatever the hash seed.
    given = (exc.headers or {}).get("Allow", "").split(", ")
    allowed = ", ".join(sorted(given, key=lambda method: _METHOD_ORDER.get(method, 99)))
    message = f"{where}: method not allowed (this path allows {allowed})"
    return ApiError(405, "method_not_allowed", message, headers={"Allow": allowed})


_METHOD_ORDER = {"GET": 0, "HEAD": 1, "POST": 2, "PUT": 3, "PATCH": 4, "DELETE": 5}


EXCEPTION_HANDLERS = {
    ApiError: handle_exception,
    MCPWallError: handle_exception,
    HTTPException: handle_exception,
    Exception: handle_exception,
}

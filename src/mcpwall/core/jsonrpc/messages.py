"""JSON-RPC 2.0 messages as typed values (MCP uses no other framing).

Ids are kept exactly as received: a string stays a string and an integer an integer, so
``"1"`` and ``1`` are different requests, as JSON-RPC says. ``params`` is ``None`` when the
message had none. A batch (allowed only in protocol version 2025-03-26) is a :class:`Batch`
whose items are messages, or the error refusing that one element.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeAlias

from mcpwall.core.errors import ProtocolError

JSONRPC_VERSION: Final = "2.0"

RequestId: TypeAlias = str | int
Params: TypeAlias = dict[str, object]


class _Absent(enum.Enum):
    ABSENT = "absent"


# An optional member that was not there, as distinct from one that was ``null``.
ABSENT: Final = _Absent.ABSENT


@dataclass(frozen=True, slots=True)
class Request:
    """A call that expects an answer carrying the same ``id``."""

    id: RequestId
    method: str
    params: Params | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A message with a method and no ``id``: it gets no answer."""

    method: str
    params: Params | None = None


@dataclass(frozen=True, slots=True)
class ResultResponse:
    """A successful answer to the request with this ``id``."""

    id: RequestId
    result: object


@dataclass(frozen=True, slots=True)
class ErrorObject:
    """The ``error`` member of a failed answer; ``data`` is :data:`ABSENT` when not given."""

    code: int
    message: str
    data: object = ABSENT


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A failed answer; ``id`` is ``None`` when the failed request's id could not be read."""

    id: RequestId | None
    error: ErrorObject


Response: TypeAlias = ResultResponse | ErrorResponse
Message: TypeAlias = Request | Notification | ResultResponse | ErrorResponse


@dataclass(frozen=True, slots=True)
class Batch:
    """The elements of a JSON-RPC batch, each decoded on its own; bad ones are their error."""

    items: tuple[Message | ProtocolError, ...]

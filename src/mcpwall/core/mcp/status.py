"""The HTTP status that goes with a refusal, per era.

2026-07-28 fixes 400 for the envelope and header errors (-32020, -32021, -32022, a missing
``_meta``) and 404 for -32601; the SDKs also answer 400 for -32700, -32600 and -32602
(``ERROR_CODE_HTTP_STATUS`` in mcp 2.3.0). On the legacy wire a JSON-RPC error travels in a
200 answer, except that a body that is not one valid message is refused with 400 by the
transport. A body over the limit is 413 either way, and a refusal for capacity is 429 (the
grant's own cap) or 503 (the gateway's), with ``Retry-After``: HTTP clients, proxies and load
balancers know those, and the SDKs read the JSON-RPC error in the body at any status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mcpwall.core.errors import (
    BodyTooLarge,
    InvalidRequest,
    OverCapacity,
    ParseError,
    ProtocolError,
)

MODERN_STATUS: Final[Mapping[int, int]] = {
    -32700: 400,
    -32600: 400,
    -32602: 400,
    -32020: 400,
    -32021: 400,
    -32022: 400,
    -32601: 404,
}


def http_status(refused: ProtocolError, *, modern: bool) -> int:
    """The HTTP status of the answer that carries ``refused``."""
    if isinstance(refused, BodyTooLarge):
        return 413
    if isinstance(refused, OverCapacity):
        return refused.code  # 429 or 503: the code is the status
    if modern:
        return MODERN_STATUS.get(refused.code, 200)
    return 400 if isinstance(refused, ParseError | InvalidRequest) else 200


def retry_after(refused: ProtocolError) -> list[tuple[str, str]]:
    """The ``Retry-After`` header of the answer that carries ``refused``, if it has one."""
    if isinstance(refused, OverCapacity):
        return [("retry-after", str(refused.retry_after_s))]
    return []

"""The HTTP status that goes with a refusal, per era.

2026-07-28 fixes 400 for the envelope and header errors (-32020, -32021, -32022, a missing
``_meta``) and 404 for -32601; the SDKs also answer 400 for -32700, -32600 and -32602
(``ERROR_CODE_HTTP_STATUS`` in mcp 2.3.0). On the legacy wire a JSON-RPC error travels in a
200 answer, except that a body that is not one valid message is refused with 400 by the
transport. A body over the limit is 413 either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mcpwall.core.errors import BodyTooLarge, InvalidRequest, ParseError, ProtocolError

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
    if modern:
        return MODERN_STATUS.get(refused.code, 200)
    return 400 if isinstance(refused, ParseError | InvalidRequest) else 200

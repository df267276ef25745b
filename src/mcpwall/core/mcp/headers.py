"""The HTTP headers a 2026-07-28 request mirrors from its body, checked and re-emitted.

``MCP-Protocol-Version``, ``Mcp-Method`` and, for ``tools/call``, ``resources/read`` and
``prompts/get``, ``Mcp-Name`` are required and must equal the body; a server that reads the
body rejects any difference with 400 and -32020, so that a component routing on headers and
one acting on the body can never be told two different things (2026-07-28
basic/transports/streamable-http §Server Validation). The gateway decides on the body, checks
the headers it got, and computes the ones it sends upstream from the body again.

Header names are case-insensitive: every mapping here is keyed by the lower-case name.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Final

from mcpwall.core.errors import HeaderMismatch
from mcpwall.core.jsonrpc import Request
from mcpwall.core.jsonvalue import render

PROTOCOL_VERSION_HEADER: Final = "mcp-protocol-version"
METHOD_HEADER: Final = "mcp-method"
NAME_HEADER: Final = "mcp-name"
ROUTING_HEADERS: Final = frozenset({PROTOCOL_VERSION_HEADER, METHOD_HEADER, NAME_HEADER})

# Method → the params member that Mcp-Name mirrors.
NAME_SOURCES: Final[Mapping[str, str]] = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
}

_SENTINEL = re.compile(r"=\?base64\?(?P<payload>.*)\?=", re.DOTALL)
# RFC 9110 field values: visible ASCII, space and tab.
_PLAIN = re.compile(r"[\x20-\x7e\t]*")
_ENCODE_FREE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def encode_value(value: str) -> str:
    """A header value for ``value``: as is when it is plain visible ASCII, else the
    ``=?base64?…?=`` form (also for a value that merely looks like that form)."""
    if _ENCODE_FREE.fullmatch(value) and not _SENTINEL.fullmatch(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode('utf-8')).decode('ascii')}?="


def decode_value(value: str) -> str | None:
    """The value a header carries, ``=?base64?…?=`` decoded; None when it is malformed."""
    match = _SENTINEL.fullmatch(value)
    if match is None:
        return value if _PLAIN.fullmatch(value) else None
    payload = match["payload"]
    try:
        decoded = base64.b64decode(payload, validate=True)
        # Only the canonical encoding counts: two spellings of one value are one too many.
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def repeated_routing_header(repeated: Iterable[str]) -> str | None:
    """The first routing header among ``repeated`` (lower-case names of headers the request
    carried more than once), if any.

    First-copy and last-copy readers would disagree, so a repeat is refused (-32020).
    """
    return next((name for name in repeated if name in ROUTING_HEADERS), None)


def check_headers(
    request: Request,
    protocol_version: str,
    headers: Mapping[str, str],
    repeated: Iterable[str] = (),
) -> None:
    """Refuse, with :class:`HeaderMismatch`, headers missing, repeated (``repeated`` names the
    headers the request carried more than once) or different from the body.

    ``protocol_version`` is the one in the request's ``_meta``. A name-bearing request whose
    body has no string name is left to the method's own params check (-32602).
    """
    twice = repeated_routing_header(repeated)
    if twice is not None:
        raise HeaderMismatch(
            f"the {twice} header is sent more than once (send it once)", request_id=request.id
        )
    _expect(headers, PROTOCOL_VERSION_HEADER, "MCP-Protocol-Version", protocol_version, request)
    _expect(headers, METHOD_HEADER, "Mcp-Method", request.method, request)
    source = NAME_SOURCES.get(request.method)
    body_name = None if source is None or request.params is None else request.params.get(source)
    if isinstance(body_name, str):
        _expect(headers, NAME_HEADER, "Mcp-Name", body_name, request, encoded=True)


def _expect(
    headers: Mapping[str, str],
    key: str,
    name: str,
    expected: str,
    request: Request,
    *,
    encoded: bool = False,
) -> None:
    raw = headers.get(key)
    if raw is None:
        raise HeaderMismatch(
            f"the {name} header is missing (expected {render(expected)}, as in the body)",
            request_id=request.id,
        )
    value = decode_value(raw) if encoded else raw
    if value is None or (not encoded and not _PLAIN.fullmatch(value)):
        raise HeaderMismatch(
            f"the {name} header {render(raw)} is malformed "
            "(expected visible ASCII, or =?base64?…?= for anything else)",
            request_id=request.id,
        )
    if value != expected:
        raise HeaderMismatch(
            f"the {name} header {render(value)} does not match the body's {render(expected)}",
            request_id=request.id,
        )


def request_headers(request: Request, protocol_version: str) -> dict[str, str]:
    """The routing headers to send with ``request`` on a 2026-07-28 upstream leg."""
    headers = {
        "MCP-Protocol-Version": protocol_version,
        "Mcp-Method": request.method,
    }
    source = NAME_SOURCES.get(request.method)
    body_name = None if source is None or request.params is None else request.params.get(source)
    if isinstance(body_name, str):
        headers["Mcp-Name"] = encode_value(body_name)
    return headers

"""The gateway's own pagination cursors: opaque to agents, tamper-evident, bound to a place.

An agent never sees an upstream's cursor. It gets ours: which upstream to continue with, that
upstream's cursor, and the position of that upstream among the endpoint's (so a cursor of the
aggregate endpoint walks every bound upstream in turn), sealed with an HMAC under a key the
caller passes in. The MAC also covers a ``scope`` (say: grant, endpoint and method), so a
cursor minted for one place is refused in any other; so is any edited or made-up cursor
(-32602, as the spec asks for an invalid cursor). Cursors do not expire: the upstream decides
whether its own cursor still means something.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from mcpwall.core.errors import InvalidParams

FORMAT: Final = 1
MIN_KEY_BYTES: Final = 16
_MAC_BYTES: Final = 16  # 128 bits: forging one takes 2**128 tries
_MAX_CURSOR_CHARS: Final = 8192
INVALID: Final = "invalid cursor (expected the nextCursor of a previous list result here)"


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where the next page starts: ``upstream``, the ``position``-th of the endpoint's
    upstreams, at its own ``upstream_cursor`` (None: its first page)."""

    upstream: str
    upstream_cursor: str | None
    position: int


class CursorSeal:
    """Seals :class:`PageCursor` s into opaque strings and opens them again."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a cursor key needs at least {MIN_KEY_BYTES} bytes, got {len(key)}")
        self._key = key

    def seal(self, cursor: PageCursor, scope: str) -> str:
        """The opaque string for ``cursor``, valid only under ``scope``."""
        payload = orjson.dumps([FORMAT, cursor.upstream, cursor.upstream_cursor, cursor.position])
        return f"{_b64(payload)}.{_b64(self._mac(payload, scope))}"

    def open(self, sealed: object, scope: str) -> PageCursor:
        """The cursor ``sealed`` stands for; :class:`InvalidParams` if it is not one of ours
        for ``scope``."""
        if not isinstance(sealed, str) or len(sealed) > _MAX_CURSOR_CHARS:
            raise InvalidParams(INVALID)
        encoded_payload, _, encoded_mac = sealed.partition(".")
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        if payload is None or mac is None:
            raise InvalidParams(INVALID)
        if not hmac.compare_digest(mac, self._mac(payload, scope)):
            raise InvalidParams(INVALID)
        return _cursor(payload)

    def _mac(self, payload: bytes, scope: str) -> bytes:
        scope_bytes = scope.encode("utf-8")
        message = len(scope_bytes).to_bytes(4, "big") + scope_bytes + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    # Only the spelling we write: base64 ignores the low bits of a last character otherwise,
    # and one cursor should have one spelling.
    return data if _b64(data) == text else None


def _cursor(payload: bytes) -> PageCursor:
    # The MAC proved we wrote this; the shape is checked anyway, for cursors of a future format.
    value = orjson.loads(payload)
    match value:
        case [1, str(upstream), str() | None as upstream_cursor, int(position)] if position >= 0:
            return PageCursor(upstream, upstream_cursor, position)
    raise InvalidParams(INVALID)


def first_page(upstreams: Sequence[str]) -> PageCursor | None:
    """Where a listing without a cursor starts; None when the endpoint has no upstream."""
    return PageCursor(upstreams[0], None, 0) if upstreams else None


def resume(cursor: PageCursor, upstreams: Sequence[str]) -> PageCursor:
    """``cursor`` checked against the endpoint's upstreams now; -32602 if they changed under it."""
    if cursor.position >= len(upstreams) or upstreams[cursor.position] != cursor.upstream:
        raise InvalidParams(INVALID)
    return cursor


def after(
    current: PageCursor, upstream_next: str | None, upstreams: Sequence[str]
) -> PageCursor | None:
    """Where the page after ``current`` starts, given the upstream's own ``nextCursor``:
    further in the same upstream, else the next upstream's first page, else nowhere."""
    if upstream_next is not None:
        return PageCursor(current.upstream, upstream_next, current.position)
    position = current.position + 1
    if position < len(upstreams):
        return PageCursor(upstreams[position], None, position)
    return None

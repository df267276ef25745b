"""What an agent may send that is not a request the pipeline judges: which notifications,
and which method names are too close to a judged one to be relayed.

JSON-RPC 2.0 says a server *executes* a notification and only suppresses its answer, so a
message without an ``id`` whose method is ``tools/call`` is a call like any other to an
upstream that follows the letter of it. The gateway therefore relays an agent's
notification only when MCP defines it as one a client sends (``mcp_types``' table of client
notifications, per protocol version); any other method sent without an id — a request
method in particular — is dropped and recorded, never forwarded.

The same holds for method names that are not exactly ``tools/call`` or ``tools/list`` but
read as one after the folding a lenient server might do (case, surrounding or embedded
blanks, compatibility forms such as fullwidth letters): the gateway judges exact names
only, so it refuses those rather than relay them unjudged.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from mcpwall.core.errors import InvalidRequest, MethodNotFound
from mcpwall.core.mcp.versions import Era

INITIALIZED: Final = "notifications/initialized"
CANCELLED: Final = "notifications/cancelled"
PROGRESS: Final = "notifications/progress"
ROOTS_LIST_CHANGED: Final = "notifications/roots/list_changed"

# The notifications a client sends, per era (mcp_types.methods.CLIENT_NOTIFICATIONS: the
# same four in every legacy version; 2026-07-28 keeps only cancellation, and over HTTP
# not even that: closing the response stream is the signal there).
AGENT_NOTIFICATIONS: Final[dict[Era, frozenset[str]]] = {
    "legacy": frozenset({INITIALIZED, CANCELLED, PROGRESS, ROOTS_LIST_CHANGED}),
    "modern": frozenset({CANCELLED}),
}

# Of those, the ones an upstream needs to hear: the gateway handles the others itself
# (it opened the upstream session, and it cancels an agent's request by cancelling its own).
RELAYED_NOTIFICATIONS: Final = frozenset({PROGRESS, ROOTS_LIST_CHANGED})

# The methods the pipeline judges: a request for one of these goes through the policy.
JUDGED_METHODS: Final = frozenset({"tools/call", "tools/list"})


def check_agent_notification(method: str, era: Era) -> None:
    """Refuse, with :class:`InvalidRequest`, a notification an agent of ``era`` may not
    send; the caller drops it (never forwarded) and records it."""
    if method in AGENT_NOTIFICATIONS[era]:
        return
    allowed = ", ".join(sorted(AGENT_NOTIFICATIONS[era]))
    if method.startswith("notifications/"):
        found = "a notification MCP does not let a client send"
    else:
        found = "a method sent without an id (a request needs one)"
    raise InvalidRequest(f"{found} was dropped, not forwarded (expected one of: {allowed})")


def check_method_name(method: str) -> None:
    """Refuse, with :class:`MethodNotFound`, a request method that is not a judged one but
    folds to one (``Tools/Call``, ``tools/call\\u00a0``, fullwidth letters)."""
    if method in JUDGED_METHODS or folded(method) not in JUDGED_METHODS:
        return
    raise MethodNotFound(
        "Method not found: a method name that differs from tools/call or tools/list only by "
        "case, blanks or character forms is refused (expected the exact name)"
    )


def folded(method: str) -> str:
    """``method`` as a lenient server might read it: compatibility forms unified (NFKC),
    case folded, and every blank, control or format character removed."""
    normal = unicodedata.normalize("NFKC", method).casefold()
    return "".join(char for char in normal if not _invisible(char))


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")

"""A request's ``params`` as one upstream session sends them.

Two things change on the way up, both in ``params._meta``:

* **The envelope belongs to the leg.** On a 2026-07-28 session every request carries our
  protocol version, the client capabilities we offered and our client info (§1.4); on a
  legacy session those keys are removed, since a dual-era server refuses a legacy session's
  request that carries them. ``logLevel`` is the agent's opt-in and is kept on a modern leg.
* **Progress tokens are the session's own.** Tokens must be unique among a sender's active
  requests (§1.13), but one upstream session carries the requests of several agent requests
  that may each pick ``1``. The session sends its request id as the token and puts the
  caller's token back into each ``notifications/progress`` it relays.

A request without ``_meta`` on a legacy session — the common case — is sent as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mcpwall.core.mcp import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    PROTOCOL_VERSION_KEY,
)
from mcpwall.core.mcp.envelope import LOG_LEVEL_KEY
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated

ProgressToken = str | int

PROGRESS = "notifications/progress"
_ENVELOPE_KEYS: Final = (PROTOCOL_VERSION_KEY, CLIENT_CAPABILITIES_KEY, CLIENT_INFO_KEY)
_LEGACY_STRIPPED: Final = (*_ENVELOPE_KEYS, LOG_LEVEL_KEY)


def envelope(negotiated: Negotiated, offer: ClientOffer) -> dict[str, object] | None:
    """The ``_meta`` members every request of a modern session carries; None on a legacy one."""
    if negotiated.era != "modern":
        return None
    return {
        PROTOCOL_VERSION_KEY: negotiated.protocol_version,
        CLIENT_CAPABILITIES_KEY: dict(offer.capabilities),
        CLIENT_INFO_KEY: dict(offer.client_info),
    }


def shape(
    params: Mapping[str, object] | None,
    envelope: Mapping[str, object] | None,
    request_id: int,
) -> tuple[Mapping[str, object] | None, ProgressToken | None]:
    """``params`` to send as request ``request_id``, and the caller's progress token (or None).

    ``envelope`` is what :func:`envelope` gave for the session. The caller's mapping is never
    changed: what differs is copied.
    """
    meta = None if params is None else params.get("_meta")
    if envelope is None and not isinstance(meta, dict):
        return params, None
    new_meta: dict[str, object] = dict(meta) if isinstance(meta, dict) else {}
    token = new_meta.get("progressToken")
    caller_token = token if type(token) is str or type(token) is int else None
    if caller_token is not None:
        new_meta["progressToken"] = request_id
    if envelope is None:
        for key in _LEGACY_STRIPPED:
            new_meta.pop(key, None)
    else:
        # Client capabilities vary per stateless request (they are the agent's, as far as the
        # gateway can relay them), so ones the caller supplies win over the session's.
        supplied = new_meta.get(CLIENT_CAPABILITIES_KEY)
        new_meta.update(envelope)
        if isinstance(supplied, dict):
            new_meta[CLIENT_CAPABILITIES_KEY] = supplied
    shaped = dict(params) if params is not None else {}
    if new_meta:
        shaped["_meta"] = new_meta
    else:
        shaped.pop("_meta", None)
    return shaped, caller_token


def progress_token(message: Message) -> object:
    """The ``progressToken`` of a ``notifications/progress`` message (None if it has none)."""
    params = message.get("params")
    return params.get("progressToken") if isinstance(params, dict) else None


def with_token(message: Message, token: ProgressToken) -> Message:
    """A copy of a ``notifications/progress`` message carrying the caller's ``token``."""
    params = message.get("params")
    known = params if isinstance(params, dict) else {}
    return {**message, "params": {**known, "progressToken": token}}

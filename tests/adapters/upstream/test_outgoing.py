"""Params as one session sends them: the leg's envelope, and progress tokens of its own."""

from __future__ import annotations

from mcpwall.adapters.upstream.outgoing import envelope, shape, with_token
from mcpwall.core.mcp import CLIENT_CAPABILITIES_KEY, CLIENT_INFO_KEY, PROTOCOL_VERSION_KEY
from mcpwall.core.mcp.envelope import LOG_LEVEL_KEY
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated

OFFER = ClientOffer(capabilities={"sampling": {}}, client_info={"name": "gw", "version": "1"})
LEGACY = Negotiated("2025-11-25", "legacy", {}, {})
MODERN = Negotiated("2026-07-28", "modern", {}, {})
AGENT_ENVELOPE = {
    PROTOCOL_VERSION_KEY: "2026-07-28",
    CLIENT_CAPABILITIES_KEY: {"roots": {}},
    CLIENT_INFO_KEY: {"name": "agent"},
    LOG_LEVEL_KEY: "debug",
}


def test_legacy_params_without_meta_go_as_they_are() -> None:
    params = {"name": "echo", "arguments": {"message": "hi"}}
    shaped, token = shape(params, envelope(LEGACY, OFFER), 7)
    assert shaped is params
    assert token is None
    assert shape(None, None, 7) == (None, None)


def test_a_legacy_leg_drops_the_modern_envelope() -> None:
    params = {"name": "echo", "_meta": {**AGENT_ENVELOPE, "com.example/trace": "t"}}
    shaped, _ = shape(params, None, 7)
    assert shaped == {"name": "echo", "_meta": {"com.example/trace": "t"}}
    assert params["_meta"] == {**AGENT_ENVELOPE, "com.example/trace": "t"}  # untouched


def test_a_legacy_leg_drops_an_emptied_meta() -> None:
    shaped, _ = shape({"name": "echo", "_meta": dict(AGENT_ENVELOPE)}, None, 7)
    assert shaped == {"name": "echo"}


def test_a_modern_leg_carries_our_envelope_and_keeps_the_log_level() -> None:
    # The capabilities in params are the ones the caller (the gateway) declares for this
    # request; version and client info are the session's.
    shaped, _ = shape({"name": "echo", "_meta": AGENT_ENVELOPE}, envelope(MODERN, OFFER), 7)
    assert shaped == {
        "name": "echo",
        "_meta": {
            PROTOCOL_VERSION_KEY: "2026-07-28",
            CLIENT_CAPABILITIES_KEY: {"roots": {}},
            CLIENT_INFO_KEY: {"name": "gw", "version": "1"},
            LOG_LEVEL_KEY: "debug",
        },
    }


def test_a_modern_leg_adds_meta_where_there_was_none() -> None:
    shaped, _ = shape(None, envelope(MODERN, OFFER), 1)
    assert shaped is not None
    assert shaped["_meta"] == envelope(MODERN, OFFER)


def test_the_progress_token_becomes_the_request_id() -> None:
    params = {"name": "slow", "_meta": {"progressToken": "agent-1"}}
    shaped, token = shape(params, None, 12)
    assert shaped == {"name": "slow", "_meta": {"progressToken": 12}}
    assert token == "agent-1"


def test_a_token_that_is_not_a_string_or_integer_is_left_alone() -> None:
    shaped, token = shape({"_meta": {"progressToken": 1.5}}, None, 12)
    assert shaped == {"_meta": {"progressToken": 1.5}}
    assert token is None


def test_the_callers_token_is_put_back_in_a_copy() -> None:
    notice: Message = {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": 12, "progress": 1},
    }
    assert with_token(notice, "agent-1")["params"] == {"progressToken": "agent-1", "progress": 1}
    assert notice["params"] == {"progressToken": 12, "progress": 1}


def test_capabilities_the_caller_supplies_win_on_a_modern_session() -> None:
    env = envelope(MODERN, OFFER)
    params = {
        "name": "t",
        "_meta": {"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}},
    }
    shaped, _ = shape(params, env, 1)
    assert shaped is not None
    meta = shaped["_meta"]
    assert isinstance(meta, dict)
    assert meta["io.modelcontextprotocol/clientCapabilities"] == {"elicitation": {}}
    assert meta["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"

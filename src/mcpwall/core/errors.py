"""The exceptions mcpwall raises, one small documented tree.

::

    MCPWallError            base of everything mcpwall raises on purpose
     ├─ DocumentError       a document that can't be read or is invalid; ``.problems`` lists
     │   │                  every problem at once, each with its JSON pointer
     │   ├─ PolicyError     … a policy document
     │   └─ CasesError      … a file of golden policy test cases
     ├─ ArgumentsError      call arguments that are not a JSON object
     ├─ UnreadableValue     a decoder (|json, |yaml, |yaml_all, |shell) could not read a value
     │   │                  safely; ``.reason`` says why, never quoting the value
     │   └─ UnreadableArgument … the same, for the argument a condition's path reads: the call
     │                      is denied with this message (DESIGN §3, "Looking inside arguments")
     ├─ InvalidValue        a value a user gave that has the wrong form
     │   ├─ InvalidName     … a name outside ``[a-z0-9][a-z0-9-]{0,62}``
     │   └─ InvalidDuration … a duration that is not like ``30d``, ``12h``, ``90m``
     └─ StoreError          the registry of upstreams, policies and grants refused something
         ├─ NotFound        … the named object does not exist
         ├─ Conflict        … the change collides with existing state (a duplicate label, say)
         ├─ StoreUnavailable … the database could not be reached or used
         │   └─ StoreLost … it has not been reached for longer than the data plane's grace
         ├─ PinUnreadable   … a stored tool pin cannot be read: the upstream's tools are withheld
         └─ SecretKeyError  … the key for secrets at rest is malformed or not the right one

    MCPWallError
     └─ ProtocolError       a JSON-RPC/MCP message refused; ``.code`` is the JSON-RPC error code
         │                  to answer with, ``.request_id`` the id to answer (None: unreadable)
         ├─ ParseError      -32700 … the body is not UTF-8 JSON
         ├─ InvalidRequest  -32600 … not one valid JSON-RPC message (duplicate key, batch, id…)
         │   └─ BodyTooLarge … the body is over the size limit (HTTP 413)
         ├─ MethodNotFound  -32601 … a method this protocol version does not have
         ├─ InvalidParams   -32602 … a method's params are wrong (tool name, cursor, ``_meta``…)
         │   └─ UnknownTool … ``Unknown tool: NAME``, for a hidden tool as for a missing one
         ├─ HeaderMismatch  -32020 … an MCP HTTP header is missing or disagrees with the body
         ├─ UnsupportedProtocolVersion -32022 … ``.data`` is ``{supported, requested}``
         └─ OverCapacity    … a bound on what is held open was reached; ``.data`` is ``{cap,
             │                limit, retry_after_s}`` (the code is the HTTP status that carries it)
             ├─ GrantOverCapacity   429 … the grant's own share (sessions, streams, processes)
             └─ GatewayOverCapacity 503 … the whole gateway's

    MCPWallError
     └─ UpstreamError       talking to an upstream server failed (the call has no result);
         │                  ``.unsent``: the request certainly never left the gateway
         ├─ UpstreamUnavailable … it could not be reached, spawned or initialized
         ├─ UpstreamTimeout     … it did not answer in time (the request was cancelled upstream)
         ├─ UpstreamClosed      … the session ended while a request was in flight
         └─ UpstreamProtocolError … it answered with something that is not MCP

    MCPWallError
     └─ LimitsUnavailable   the rate-limit counters could not be reached or used (the call's
                            limits were not checked: refused, or let through when configured)

    MCPWallError
     ├─ SandboxError        the sandbox cluster (``mcpwall sandbox``) refused an operation, as a
     │                      Kubernetes API server would: no such pod, a manifest that disagrees
     │                      with the call's arguments…
     └─ DemoStepFailed      a step of ``mcpwall demo`` did not behave as the story says;
                            ``.step`` names it, the message says what was expected and seen

Messages give the location, what was found and what was expected.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import ClassVar


class MCPWallError(Exception):
    """Base class of every error mcpwall raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where (an RFC 6901 pointer) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '(root)'}: {self.message}"


class DocumentError(MCPWallError):
    """A document that cannot be parsed, or whose content is invalid.

    Carries every problem found, so a user fixes them all in one pass.
    """

    what: ClassVar[str] = "document"

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: " if source else ""
        noun = "problem" if count == 1 else "problems"
        lines = [f"{head}invalid {self.what} ({count} {noun})", *(str(p) for p in self.problems)]
        super().__init__("\n".join(lines))


class PolicyError(DocumentError):
    """A policy document that cannot be parsed or compiled."""

    what = "policy"


class CasesError(DocumentError):
    """A golden cases file that cannot be parsed or has the wrong shape."""

    what = "cases file"


class ArgumentsError(MCPWallError):
    """Tool-call arguments that are not a JSON object (or not valid JSON at all)."""


class UnreadableValue(MCPWallError):  # noqa: N818
    """A value a decoder could not read safely: not a string, malformed, ambiguous, too big.

    ``reason`` says what was wrong and where (``duplicate key "namespace" at line 4``) and never
    quotes the value: it ends up in decisions, which the proxy log records.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UnreadableArgument(UnreadableValue):
    """An argument a condition reads through a decoder could not be read, so the call is denied.

    ``argument`` is the condition's path up to the decoder, as the policy writes it
    (``manifest``, ``files.*``); ``reads_as`` names the format (``YAML``, ``shell words``).
    """

    def __init__(self, argument: str, reads_as: str, reason: str) -> None:
        self.argument = argument
        self.reads_as = reads_as
        self.reason = reason
        MCPWallError.__init__(
            self, f"argument {_quote(argument)} could not be read as {reads_as}: {reason}"
        )


def _quote(value: str) -> str:
    """``value`` in double quotes, control characters escaped, as a message shows it."""
    return json.dumps(value, ensure_ascii=False)


# The names below are the ones the design and issues use; an "Error" suffix would add nothing.


class InvalidValue(MCPWallError):  # noqa: N818
    """A value given by a user (a flag, a field) that has the wrong form.

    The message says which value, what it was and what is expected; with ``secret=True`` it
    gives the value's length, never the value.
    """

    def __init__(self, what: str, found: str, expected: str, *, secret: bool = False) -> None:
        self.what = what
        self.found = found
        self.expected = expected
        shown = f"(not shown, {len(found)} characters)" if secret else _quote(found)
        super().__init__(f"{what} {shown}: expected {expected}")


class InvalidName(InvalidValue):
    """A name that is not a valid upstream, policy or label name."""


class InvalidDuration(InvalidValue):
    """A duration that can't be read (expected: ``90s``, ``90m``, ``12h``, ``30d``, ``2w``)."""


class SettingError(MCPWallError):
    """A secret setting that can't be read: given twice (``X`` and ``X_FILE``), or its file is
    unreadable or empty. The message names the variables and the path, never the value."""


class StoreError(MCPWallError):
    """The store refused an operation."""


class NotFound(StoreError):  # noqa: N818
    """The named object does not exist; ``where`` says what referred to it, if anything."""

    def __init__(self, kind: str, key: str, *, where: str = "", hint: str = "") -> None:
        self.kind = kind
        self.key = key
        head = f"{where}: " if where else ""
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{head}{kind} {_quote(key)} not found{tail}")


class Conflict(StoreError):  # noqa: N818
    """The change collides with existing state; the message says what is in the way."""


class StoreUnavailable(StoreError):  # noqa: N818
    """The database could not be reached or used.

    ``url`` is the database URL with any password replaced by ``***``.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"database {url} is unavailable: {reason}")


class StoreLost(StoreUnavailable):
    """The data plane has not reached its store for ``lost_for_s`` seconds, longer than
    ``grace_s`` (``MCPWALL_STORE_GRACE``): its cached grants no longer serve (fail closed)."""

    def __init__(self, url: str, reason: str, lost_for_s: float, grace_s: float) -> None:
        super().__init__(url, reason)
        self.lost_for_s = lost_for_s
        self.grace_s = grace_s

    def __str__(self) -> str:
        return (
            f"{super().__str__()} (for {self.lost_for_s:.0f} s, longer than"
            f" MCPWALL_STORE_GRACE, {self.grace_s:g} s: calls are refused until it is back)"
        )


class PinUnreadable(StoreError):  # noqa: N818
    """A stored pin (``core.pins``) that cannot be read: its definition is not JSON, its hash is
    not of the scheme this version computes, or does not match the stored definition.

    Fail closed: whoever reads pins withholds the upstream's tools until they are pinned again.
    ``tool`` is None when the unreadable pin is the server's instructions'.
    """

    def __init__(self, upstream: str, tool: str | None, reason: str) -> None:
        self.upstream = upstream
        self.tool = tool
        self.reason = reason
        what = "instructions" if tool is None else f"tool {_quote(tool)}"
        super().__init__(
            f"upstream {_quote(upstream)}: the stored pin of {what} cannot be read ({reason}); "
            "its tools are withheld until they are pinned again"
        )


class SecretKeyError(StoreError):
    """The key for secrets at rest is malformed, or is not the key the stored secrets need."""


class ProtocolError(MCPWallError):
    """A JSON-RPC or MCP message the gateway refuses, and how to say so on the wire.

    ``code`` is the JSON-RPC error code of the answer; ``request_id`` is the id of the request
    being refused when it could be read (else ``None``, answered as ``"id": null``); ``data``
    goes into the error object's ``data`` member when not ``None``.
    """

    code: ClassVar[int] = -32603

    def __init__(
        self,
        message: str,
        *,
        request_id: str | int | None = None,
        data: dict[str, object] | None = None,
    ) -> None:
        self.message = message
        self.request_id = request_id
        self.data = data
        super().__init__(message)


class ParseError(ProtocolError):
    """The body is not JSON, or not UTF-8."""

    code = -32700


# The JSON-RPC and MCP specifications' own names for these errors, suffix-free like theirs.


class InvalidRequest(ProtocolError):  # noqa: N818
    """The JSON is not one valid JSON-RPC message, or is one the gateway refuses to interpret.

    That covers duplicate keys and too-deep nesting: the gateway refuses what another parser
    could read differently, so the upstream always sees exactly what the policy saw.
    """

    code = -32600


class BodyTooLarge(InvalidRequest):
    """The body is over the size limit; HTTP answers 413 before reading it when it can."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"the body is {size} bytes, over the limit of {limit} bytes")


class MethodNotFound(ProtocolError):  # noqa: N818
    """A method that does not exist in the protocol version the request uses."""

    code = -32601


class InvalidParams(ProtocolError):  # noqa: N818
    """A method's ``params`` are malformed: a tool name, arguments, a cursor, ``_meta``…"""

    code = -32602


class UnknownTool(InvalidParams):
    """A tool the agent may not see: hidden by policy, or not offered by the upstream at all.

    Both read the same (``Unknown tool: NAME``), so hiding a tool reveals nothing (DESIGN §4).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Unknown tool: {name}")


class WithheldTool(UnknownTool):
    """A tool withheld because its definition is not the one pinned (``core.pins``): the agent
    reads an unknown tool, as for a hidden one; ``rule`` says why in the proxy log."""

    def __init__(self, name: str, rule: str) -> None:
        self.rule = rule
        super().__init__(name)


class HeaderMismatch(ProtocolError):  # noqa: N818
    """An MCP HTTP header (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``, a tool's
    ``Mcp-Param-*``) is missing, malformed, repeated or different from the request body
    (2026-07-28 Streamable HTTP)."""

    code = -32020


class UnsupportedProtocolVersion(ProtocolError):  # noqa: N818
    """A request names a protocol version the gateway does not serve on that path.

    ``data`` is ``{"supported": [...], "requested": "..."}`` so the client can retry.
    """

    code = -32022

    def __init__(self, requested: str, supported: tuple[str, ...] | list[str]) -> None:
        self.requested = requested
        self.supported = tuple(supported)
        super().__init__(
            f"Unsupported protocol version {_quote(requested)} "
            f"(expected one of {', '.join(self.supported)})",
            data={"supported": list(self.supported), "requested": requested},
        )


class OverCapacity(ProtocolError):  # noqa: N818
    """A request refused because a bound on what is held open was reached: the grant's share
    (:class:`GrantOverCapacity`) or the gateway's (:class:`GatewayOverCapacity`).

    ``cap`` names the setting of the bound, ``limit`` is its value, ``retry_after_s`` the
    whole seconds after which trying again may succeed (HTTP ``Retry-After``; the message ends
    saying so), ``upstream`` the upstream concerned, if any; all but ``upstream`` are in
    ``data``. The JSON-RPC code is
    the number of the HTTP status that carries the refusal: outside the range reserved to
    JSON-RPC and MCP, as the spec asks of codes it does not define.
    """

    def __init__(
        self,
        message: str,
        *,
        cap: str,
        limit: int,
        retry_after_s: float,
        upstream: str = "",
        request_id: str | int | None = None,
    ) -> None:
        self.cap = cap
        self.limit = limit
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        self.upstream = upstream
        data: dict[str, object] = {"cap": cap, "limit": limit, "retry_after_s": self.retry_after_s}
        message = f"{message}; retry in {self.retry_after_s} s"
        super().__init__(message, request_id=request_id, data=data)


class GrantOverCapacity(OverCapacity):
    """The grant holds as much as one grant may (sessions, listen streams, processes): its
    own doing, answered over HTTP with 429 Too Many Requests."""

    code = 429


class GatewayOverCapacity(OverCapacity):
    """The gateway holds as much as it may in all: answered over HTTP with 503 Service
    Unavailable (another grant's share is bounded, so this takes several grants' load)."""

    code = 503


class UpstreamError(MCPWallError):
    """Talking to an upstream failed, so the call produced no result.

    ``unsent`` is True only when the request certainly never left the gateway: no
    connection could be made, the session was over before anything was written, or the
    session could not even be opened. That is the one case a reserved rate-limit unit is
    given back (DESIGN §3): after sending, the tool may have acted, whatever came next (a
    timeout, a lost connection, a cancellation).
    """

    def __init__(self, upstream: str, reason: str, *, unsent: bool = False) -> None:
        self.upstream = upstream
        self.reason = reason
        self.unsent = unsent
        super().__init__(f'upstream "{upstream}": {reason}')


class UpstreamUnavailable(UpstreamError):  # noqa: N818
    """The upstream could not be reached, spawned or initialized."""


class UpstreamTimeout(UpstreamError):  # noqa: N818
    """The upstream did not answer in time; the request was cancelled upstream."""


class UpstreamClosed(UpstreamError):  # noqa: N818
    """The session with the upstream ended while a request was in flight."""


class UpstreamProtocolError(UpstreamError):
    """The upstream sent something that is not valid MCP."""


class LimitsUnavailable(MCPWallError):  # noqa: N818
    """The counter store could not be reached or used, so a call's limits went unchecked.

    ``store`` names it (a URL without its password); ``reason`` is what failed.
    """

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"rate-limit counters at {store} are unavailable: {reason}")


class SandboxError(MCPWallError):
    """The sandbox cluster refused an operation; the message reads like the API server's own
    (``pods "web-1" not found in namespace "dev"``)."""


class DemoStepFailed(MCPWallError):  # noqa: N818
    """A step of ``mcpwall demo`` did not behave as the story says.

    ``step`` names the step; ``expected`` and ``seen`` say what the story promises and what
    happened instead.
    """

    def __init__(self, step: str, expected: str, seen: str) -> None:
        self.step = step
        self.expected = expected
        self.seen = seen
        super().__init__(f"step {_quote(step)}: expected {expected}; saw {seen}")

"""Strict JSON for message bodies: a body has exactly one meaning, or it is refused.

The gateway decides on the value it parsed and forwards that value re-serialised, so anything
another parser could read differently is refused rather than guessed at: a duplicate key in
any object (JavaScript keeps the last value, other parsers the first), invalid UTF-8, lone
surrogates, a byte-order mark, ``NaN``/``Infinity``, numbers that overflow a double, and
nesting deeper than a limit.

Parsing is orjson's, which refuses all of those itself except duplicate keys and our depth
limit. Duplicate keys are found without a Python hook on every object, by counting colons:
a valid JSON text has one ``:`` per object member plus the ones inside string literals. Our
re-serialisation of the parsed value has one per *surviving* member plus the same literal ones
(orjson never escapes ``:``), so the two counts differ exactly when a member was dropped as a
duplicate. The only way to hide a colon from that count is the escape ``\\u003a``; a body that
contains it is checked by the exact (slower) stdlib parser instead. ``bench/jsonrpc_decode.py``
measures this against the alternatives.

Nesting and size are measured on the bytes before parsing (:mod:`mcpwall.core.jsonshape`), so
that every body accepted costs time in proportion to its length: a body with more arrays and
objects than :data:`MAX_CONTAINERS` is refused before any is allocated, and the parsed value
is walked only to name where a body refused for its depth nests too deeply.
"""

from __future__ import annotations

import json

import orjson

from mcpwall.core import jsonpointer, jsonshape
from mcpwall.core.errors import BodyTooLarge, InvalidRequest, ParseError

# Default size limit of one message body; the HTTP layer answers 413 above it.
MAX_BODY_BYTES = 4 * 1024 * 1024

# Default nesting limit. Real tool arguments (Kubernetes manifests included) stay far below
# it; it also keeps every recursive walk over a message well inside Python's recursion limit.
MAX_DEPTH = 64

# Default limit on the arrays and objects of one body. Parsing allocates each one (about a third
# of a microsecond apiece, with the garbage collector's share): at this many, a body costs
# about what an ordinary 4 MiB body does (``bench/jsonrpc_decode.py``). A Kubernetes manifest
# has about one per 30 bytes, so a 4 MiB body of manifests stays well under it.
MAX_CONTAINERS = 250_000

# A tuple, not ``dict | list``: isinstance() against a tuple is the faster check, per node.
_CONTAINERS = (dict, list)


def loads(
    body: bytes,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
    max_containers: int = MAX_CONTAINERS,
) -> object:
    """Parse one JSON text strictly.

    Raises :class:`BodyTooLarge` over ``max_bytes``, :class:`ParseError` when ``body`` is not
    UTF-8 JSON, :class:`InvalidRequest` for a duplicate key, nesting deeper than
    ``max_depth``, or more than ``max_containers`` arrays and objects.
    """
    if len(body) > max_bytes:
        raise BodyTooLarge(len(body), max_bytes)
    # Neither nesting nor the number of containers can exceed the number of opening brackets:
    # a body with fewer than the limits (every typical request) is not measured.
    too_deep = False
    if body.count(b"{") + body.count(b"[") > min(max_depth, max_containers):
        brackets = jsonshape.structure(body)
        found = jsonshape.containers(brackets)
        if found > max_containers:
            raise InvalidRequest(
                f"the JSON has {found:,} arrays and objects (expected at most {max_containers:,})"
            )
        too_deep = jsonshape.depth(brackets) > max_depth
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _syntax_error(body, exc, max_depth) from None
    if too_deep:
        _check_depth(value, max_depth)
    _check_unique_keys(body, value)
    return value


def dumps(value: object) -> bytes:
    """Serialise a JSON value compactly (UTF-8, no spaces), as every message is sent."""
    return orjson.dumps(value)


def _syntax_error(
    body: bytes, exc: orjson.JSONDecodeError, max_depth: int
) -> ParseError | InvalidRequest:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return ParseError(f"the body is not UTF-8: invalid byte at offset {bad.start}")
    if "depth" in exc.msg or "recursion" in exc.msg:  # orjson's own limit, far above ours
        return InvalidRequest(f"the JSON nests too deeply (expected at most {max_depth} levels)")
    return ParseError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")


def _check_depth(value: object, limit: int) -> None:
    """Refuse ``value`` if it nests more than ``limit`` arrays/objects deep, naming where.

    Only for a body whose structure nests too deeply: the walk visits the containers before the
    first one too deep, fewer than the body has (at most ``max_containers``)."""
    if isinstance(value, _CONTAINERS) and _too_deep(value, limit - 1):
        raise InvalidRequest(
            f"the JSON nests too deeply at {_deep_pointer(value, limit - 1)} "
            f"(expected at most {limit} levels)"
        )


def _too_deep(node: dict[str, object] | list[object], remaining: int) -> bool:
    """Whether containers nest under ``node`` more than ``remaining`` levels further down."""
    for item in node.values() if isinstance(node, dict) else node:
        if isinstance(item, _CONTAINERS) and (remaining == 0 or _too_deep(item, remaining - 1)):
            return True
    return False


def _deep_pointer(node: dict[str, object] | list[object], remaining: int) -> str:
    """The pointer of the first container one level past the limit (the refusal path only)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for token, item in items:
        if isinstance(item, _CONTAINERS) and (remaining == 0 or _too_deep(item, remaining - 1)):
            below = "" if remaining == 0 else _deep_pointer(item, remaining - 1)
            return jsonpointer.join("", token) + below
    return ""


def _check_unique_keys(body: bytes, value: object) -> None:
    """Refuse a body in which some object has the same key twice (see the module docstring)."""
    # find(), not ``in``: ``bytes in bytes`` first tries the operand as an integer, and
    # raises and catches a TypeError inside CPython on every call.
    if body.find(b"\\") != -1 and (body.find(b"\\u003a") != -1 or body.find(b"\\u003A") != -1):
        _refuse_duplicates(body, certain=False)  # an escaped colon could upset the count
    elif body.count(b":") != orjson.dumps(value).count(b":"):
        _refuse_duplicates(body, certain=True)


def _refuse_duplicates(body: bytes, *, certain: bool) -> None:
    """Find the first duplicate key exactly and raise :class:`InvalidRequest` naming it.

    ``certain`` says the colon count already proved there is one: if the exact pass then
    finds none, refuse anyway rather than forward a body two checks disagree about.
    """
    marked: list[_WithDuplicates] = []

    def mark_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        marked.append(_WithDuplicates(pairs))
        return marked[-1]

    try:
        parsed = json.loads(body.decode("utf-8"), object_pairs_hook=mark_duplicates)
    except (ValueError, RecursionError):  # pragma: no cover — orjson accepted the body
        parsed, certain = None, True
    found = _first_duplicate(parsed, "") if marked else None
    if found is not None:
        pointer, key = found
        raise InvalidRequest(
            f"duplicate key {json.dumps(key, ensure_ascii=False)} in the object at "
            f"{pointer or '(root)'} (each key may appear only once)"
        )
    if certain:  # pragma: no cover — the module docstring proves this unreachable
        raise InvalidRequest("the body could not be checked for duplicate keys")


class _WithDuplicates(dict[str, object]):
    """A parsed object that has some key more than once (the first one: ``duplicate``)."""

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        self.duplicate = next(key for key, _ in pairs if key in seen or _add(seen, key))


def _add(seen: set[str], key: str) -> bool:
    seen.add(key)
    return False


def _first_duplicate(value: object, pointer: str) -> tuple[str, str] | None:
    """(pointer, key) of the first object, in document order, with a duplicate key."""
    if isinstance(value, _WithDuplicates):
        return pointer, value.duplicate
    items: list[tuple[str | int, object]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for token, item in items:
        found = _first_duplicate(item, jsonpointer.join(pointer, token))
        if found is not None:
            return found
    return None

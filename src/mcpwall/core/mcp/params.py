"""``Mcp-Param-*``: tool parameters a 2026-07-28 request mirrors into HTTP headers.

A tool may mark parameters of its ``inputSchema`` with ``"x-mcp-header": "Region"``. A client
calling it over Streamable HTTP then sends ``Mcp-Param-Region: <value>``, the argument's value
encoded like ``Mcp-Name``; a server that reads the body rejects a header that is missing, extra
or different with 400 and -32020; and a client drops a tool whose annotations are invalid
(2026-07-28 basic/transports/streamable-http §Custom Headers from Tool Parameters).

This module reads a schema's declarations (or why they are invalid), renders the headers for
given arguments, and checks received headers against the arguments. Its messages name headers,
arguments and places in a schema, never a value: they end up in the proxy log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from mcpwall.core import jsonpointer
from mcpwall.core.errors import HeaderMismatch
from mcpwall.core.jsonvalue import render, type_name
from mcpwall.core.mcp.headers import decode_value, encode_value

ANNOTATION: Final = "x-mcp-header"
_QUOTED_ANNOTATION: Final = b'"x-mcp-header"'
HEADER_PREFIX: Final = "Mcp-Param-"
_KEY_PREFIX: Final = HEADER_PREFIX.lower()
# The JSON types a mirrored parameter may have: "number" is excluded, as no two languages
# print a float alike.
KINDS: Final = ("string", "integer", "boolean")
# RFC 9110 §5.1 field names: 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Header values compared as numbers with an integer argument (the spec's SHOULD: "42.0" is
# 42); exponents are not, as the SDKs don't either.
_DECIMAL = re.compile(r"(?P<sign>-?)(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")

# JSON Schema keywords whose values are schemas (2020-12, and draft-07's own), by shape. Only
# ``properties`` keeps a parameter reachable; a declaration under any other one is invalid.
# Instance data (``default``, ``const``, ``enum``, ``examples``) is never entered, and ``$ref``
# is not followed: a declaration behind one is not statically reachable.
_ONE_SCHEMA: Final = frozenset(
    {
        "additionalItems", "additionalProperties", "contains", "contentSchema", "else", "if",
        "items", "not", "propertyNames", "then", "unevaluatedItems", "unevaluatedProperties",
    }
)  # fmt: skip
_SCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_SCHEMA_MAPS: Final = frozenset(
    {"$defs", "definitions", "dependentSchemas", "dependencies", "patternProperties"}
)


@dataclass(frozen=True, slots=True)
class Declaration:
    """One parameter a tool mirrors into a header.

    ``path`` is the chain of ``properties`` keys from the schema's root to the parameter;
    ``token`` the annotation (``Region``); ``kind`` the parameter's declared type.
    """

    path: tuple[str, ...]
    token: str
    kind: str

    @property
    def header(self) -> str:
        """The header's name, as sent: ``Mcp-Param-Region``."""
        return HEADER_PREFIX + self.token

    @property
    def key(self) -> str:
        """The header's name in lower case, as received headers are keyed."""
        return self.header.lower()

    @property
    def argument(self) -> str:
        """The parameter, for messages: ``region``, ``target.region``."""
        return ".".join(self.path)


Declarations = tuple[Declaration, ...]


@dataclass(frozen=True, slots=True)
class InvalidDeclarations:
    """Why a tool's ``x-mcp-header`` annotations are invalid: a client must drop the tool."""

    reason: str


@dataclass(frozen=True, slots=True)
class ReceivedParams:
    """The ``Mcp-Param-*`` headers of one HTTP request: lower-case name → (first) value, and
    the names sent more than once."""

    values: Mapping[str, str]
    repeated: frozenset[str] = frozenset()


NO_PARAMS: Final = ReceivedParams({})


# -- declarations --------------------------------------------------------------------------------


def read_declarations(input_schema: object) -> Declarations | InvalidDeclarations:
    """The parameters ``input_schema`` mirrors into headers, in schema order, or why its
    annotations are invalid.

    Valid: each annotation is a non-empty RFC 9110 token, on a property reached from the root
    through ``properties`` alone, whose ``type`` is ``string``, ``integer`` or ``boolean``, and
    no two are equal ignoring case. A schema that is not an object declares nothing.
    """
    if not _mentions_annotation(input_schema):
        return ()
    found: list[Declaration] = []
    seen: dict[str, str] = {}  # lower-case token → where it was declared
    for path, pointer, schema in _schemas(input_schema):
        if ANNOTATION not in schema:
            continue
        declared = _declaration(path, pointer, schema)
        if isinstance(declared, InvalidDeclarations):
            return declared
        earlier = seen.setdefault(declared.token.lower(), pointer)
        if earlier != pointer:
            return InvalidDeclarations(
                f"{ANNOTATION} {render(declared.token)} at {render(pointer)} repeats the one "
                f"at {render(earlier)} (header names are case-insensitive)"
            )
        found.append(declared)
    return tuple(found)


def tool_declarations(tools: object) -> dict[str, Declarations | InvalidDeclarations]:
    """Tool name → what :func:`read_declarations` says of its ``inputSchema``, for the
    definitions of a ``tools/list`` result's ``tools`` (entries without a string name are
    skipped: they can't be called)."""
    if not isinstance(tools, list):
        return {}
    return {
        name: read_declarations(tool.get("inputSchema"))
        for tool in tools
        if isinstance(tool, dict) and isinstance(name := tool.get("name"), str)
    }


def invalid_reasons(found: Mapping[str, Declarations | InvalidDeclarations]) -> dict[str, str]:
    """Tool name → why its annotations are invalid, from :func:`tool_declarations`: the tools
    a client must drop."""
    return {
        name: declared.reason
        for name, declared in found.items()
        if isinstance(declared, InvalidDeclarations)
    }


def _mentions_annotation(schema: object) -> bool:
    """Whether ``x-mcp-header`` may be anywhere in ``schema``: a scan of its JSON, some twenty
    times faster than the walk, which most tools (declaring nothing) can then skip."""
    try:
        return _QUOTED_ANNOTATION in orjson.dumps(schema)
    except orjson.JSONEncodeError:  # too deep, or an integer orjson doesn't write: walk it
        return True


def _declaration(
    path: tuple[str, ...] | None, pointer: str, schema: Mapping[str, object]
) -> Declaration | InvalidDeclarations:
    token = schema[ANNOTATION]
    where = f"{ANNOTATION} at {render(pointer) if pointer else 'the root'}"
    if not path:
        return InvalidDeclarations(
            f"{where} is not on a property reached from the root through properties alone"
        )
    if not isinstance(token, str):
        return InvalidDeclarations(f"{where} is not a string")
    if _TOKEN.fullmatch(token) is None:
        return InvalidDeclarations(
            f"{where} is not an HTTP header-name token (letters, digits and !#$%&'*+-.^_`|~)"
        )
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in KINDS:
        found = f"type {render(kind)}" if isinstance(kind, str) else "no single type"
        return InvalidDeclarations(
            f"{where} is on a property of {found} (expected string, integer or boolean)"
        )
    return Declaration(path, token, kind)


def _schemas(
    root: object,
) -> Iterator[tuple[tuple[str, ...] | None, str, Mapping[str, object]]]:
    """Every schema in ``root``, in document order: ``(properties path, pointer, schema)``.

    The properties path is the chain of ``properties`` keys from the root, None once any other
    keyword was crossed. An explicit stack: a deep schema can't exhaust the recursion limit.
    """
    stack: list[tuple[tuple[str, ...] | None, str, object]] = [((), "", root)]
    while stack:
        path, pointer, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield path, pointer, node
        stack.extend(reversed(list(_children(path, pointer, node))))


def _children(
    path: tuple[str, ...] | None, pointer: str, schema: Mapping[str, object]
) -> Iterator[tuple[tuple[str, ...] | None, str, object]]:
    for keyword, value in schema.items():
        at = jsonpointer.join(pointer, keyword)
        if keyword == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                inner = None if path is None else (*path, name)
                yield inner, jsonpointer.join(at, name), sub
        elif keyword in _SCHEMA_LISTS and isinstance(value, list):
            yield from ((None, jsonpointer.join(at, i), sub) for i, sub in enumerate(value))
        elif keyword in _ONE_SCHEMA:
            yield None, at, value
        elif keyword in _SCHEMA_MAPS and isinstance(value, dict):
            yield from ((None, jsonpointer.join(at, name), sub) for name, sub in value.items())


# -- rendering -----------------------------------------------------------------------------------


def render_headers(declarations: Declarations, arguments: Mapping[str, object]) -> dict[str, str]:
    """The ``Mcp-Param-*`` headers of a call with ``arguments``: one per declared parameter
    that has a value there (absent or ``null``: no header), encoded like ``Mcp-Name``.

    A value that can't be mirrored (an object, an array) gets no header either.
    """
    headers: dict[str, str] = {}
    for declaration in declarations:
        text = _sent_text(declaration, _value_at(arguments, declaration.path))
        if text is not None:
            headers[declaration.header] = encode_value(text)
    return headers


_ABSENT: Final = object()


def _value_at(arguments: Mapping[str, object], path: tuple[str, ...]) -> object:
    node: object = arguments
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _ABSENT
        node = node[key]
    return node


def _text(value: object) -> str | None:
    """A value as a header carries it: ``true``/``false``, a string as is, a number in
    decimal; None for what has no such form (absent, ``null``, objects, arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        try:
            return str(value)
        except ValueError:  # an integer past Python's int-to-str digit limit
            return None
    return None


def _sent_text(declaration: Declaration, value: object) -> str | None:
    # A whole float for an integer parameter is sent in plain digits ("42", not "42.0" or
    # "1e+20"), which every server compares as the number it is.
    whole = _whole(value) if declaration.kind == "integer" else None
    return _text(value) if whole is None else _text(whole)


def _whole(value: object) -> int | None:
    """``value`` as an integer when it is a whole number (never a boolean)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# -- checking ------------------------------------------------------------------------------------


def received_params(headers: Mapping[str, str], repeated: Iterable[str] = ()) -> ReceivedParams:
    """The ``Mcp-Param-*`` headers among ``headers`` (lower-case names), and those of
    ``repeated`` (names sent more than once) that are such headers."""
    values = {name: value for name, value in headers.items() if name.startswith(_KEY_PREFIX)}
    if not values and not repeated:
        return NO_PARAMS  # most requests: nothing to build
    return ReceivedParams(
        values, frozenset(name for name in repeated if name.startswith(_KEY_PREFIX))
    )


def check_param_headers(
    declarations: Declarations,
    arguments: Mapping[str, object],
    received: ReceivedParams,
    *,
    request_id: str | int | None = None,
) -> None:
    """Refuse, with :class:`HeaderMismatch`, ``Mcp-Param-*`` headers that disagree with the
    arguments: one missing for a value, one present without a value, one sent twice, one
    malformed, or one whose value differs. Headers nothing declares are no concern here.

    Values are compared after ``=?base64?…?=`` decoding; for an integer parameter, a decimal
    header and a whole-number argument as numbers (``42.0`` is ``42``).
    """
    for declaration in declarations:
        problem = _problem(declaration, arguments, received)
        if problem is not None:
            header = render(declaration.header).strip('"')  # a long name is cut short
            raise HeaderMismatch(f"the {header} header {problem}", request_id=request_id)


def _problem(
    declaration: Declaration, arguments: Mapping[str, object], received: ReceivedParams
) -> str | None:
    raw = received.values.get(declaration.key)
    value = _value_at(arguments, declaration.path)
    argument = f"argument {render(declaration.argument)}"
    if raw is not None and declaration.key in received.repeated:
        return "was sent more than once (expected it once)"
    if value is _ABSENT or value is None:
        if raw is None:
            return None
        return f"is present, but the body has no value for {argument} (expected no header)"
    if _text(value) is None:
        if raw is None:
            return None
        return (
            f"is present, but {argument} is of type {type_name(value)}, which is not mirrored "
            "(expected no header)"
        )
    if raw is None:
        return f"is missing (expected it, as the body has a value for {argument})"
    decoded = decode_value(raw)
    if decoded is None:
        return "is malformed (expected visible ASCII, or =?base64?…?= for anything else)"
    if not _agrees(declaration, value, decoded):
        return (
            f"does not match the value of {argument} in the body, of type {type_name(value)} "
            "(values are not shown)"
        )
    return None


def _agrees(declaration: Declaration, value: object, decoded: str) -> bool:
    whole = _whole(value)
    if declaration.kind == "integer" and whole is not None:
        match = _DECIMAL.fullmatch(decoded)
        if match is not None:
            return (match["fraction"] or "").strip("0") == "" and _text(whole) == _integer(match)
    return decoded == _text(value)


def _integer(decimal: re.Match[str]) -> str:
    """The whole part of a decimal as ``str(int)`` prints it, without converting it (a header
    may be longer than Python converts): ``-007.0`` → ``-7``, ``-0`` → ``0``."""
    digits = decimal["whole"].lstrip("0") or "0"
    return f"-{digits}" if decimal["sign"] and digits != "0" else digits

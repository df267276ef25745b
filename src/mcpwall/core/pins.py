"""Tool-definition pins: the canonical form of a tool, its hash, suspicious text, statuses, diffs.

A pin is what a person reviewed: the whole tool object exactly as the upstream sent it. A tool
whose hash differs from its pin changed under the agents (the "rug pull" of the OWASP MCP Top 10),
whatever field changed — peers that hashed only descriptions, or description and schema, let a
new schema argument or a ``destructiveHint`` flip through.

Pure: no I/O, no clock. The store, the gateway and the CLI build on these functions.

**Canonical form.** RFC 8785 (JSON Canonicalization Scheme, JCS): object members sorted by the
UTF-16 code units of their keys, no whitespace, strings escaped minimally (only ``"``, ``\\``
and the controls below U+0020, the usual two-character escapes where JSON has them, otherwise
``\\u00xx`` in lower-case hex), numbers as ECMAScript prints doubles (shortest round-trip digits,
exponent form below 1e-6 and from 1e21), UTF-8 output. It is hand-written rather than taken from
the ``rfc8785`` package (which the tests use as an oracle for every value both accept) for one
reason: RFC 8785 is defined on I-JSON, whose integers stop at 2**53, and that package refuses
larger ones, while the gateway's parser admits integers up to 2**64 and JSON Schemas do carry
them (``"maximum": 9223372036854775807`` for an int64). A pin that cannot be computed would
withhold the tool for good, and rounding such an integer to a double would hide a change to it;
so an integer beyond ±(2**53 - 1) is written as its exact decimal digits — the only place this
form extends JCS, and one where JCS gives no answer.

**No Unicode normalisation.** JCS does not normalise strings, and neither do we: two texts that
differ only in normalisation (``é`` as one code point or as ``e`` plus a combining accent) are
different bytes to the model reading them and to any tool that compares them, so a definition
that changes only in normalisation *is* a change a reviewer should see — and normalising would
also hide the invisible characters :func:`suspicious` looks for inside text that normalises away.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
import math
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, TypeAlias

from mcpwall.core import jsonpointer
from mcpwall.core.errors import InvalidValue, PinUnreadable

# The hash scheme, stored with every hash so that a future scheme (another canonical form, or
# another exclusion list) is recognised rather than compared to the old one as "changed".
SCHEME = "v1"

# Top-level keys of a tool object left out of its hash. Empty: every field a server sends is
# something the model reads or a client acts on (name, title, description, inputSchema,
# outputSchema, annotations, icons, _meta, and whatever a later protocol revision adds), and a
# field that is excluded is a field a server can change unseen. A key goes on this list only
# when a real server is shown to change it on every listing with no change in meaning; changing
# the list is a new SCHEME.
EXCLUDED_KEYS: frozenset[str] = frozenset()


# --- canonical form (RFC 8785) -------------------------------------------------------------------

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_ESCAPES.update({chr(c): f"\\u{c:04x}" for c in range(0x20) if chr(c) not in _ESCAPES})
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


def _string(text: str) -> str:
    return '"' + text.translate(_ESCAPE_TABLE) + '"'


def _number(value: int | float) -> str:
    """ECMAScript's Number::toString (ECMA-262 §7.1.12.1), as RFC 8785 §3.2.2.3 requires."""
    if type(value) is int:
        # Exact digits beyond the I-JSON range: see the module's docstring.
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a JSON number")
    if value == 0:
        return "0"  # -0 too
    if value < 0:
        return "-" + _number(-value)
    # repr() gives the shortest digits that round-trip, as ECMAScript does; only the layout differs.
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = (whole + fraction).lstrip("0")
    digits = all_digits.rstrip("0")
    # The value is DIGITS × 10**(point - k): ECMA-262's s, n and k.
    point = int(exponent or 0) - len(fraction) + (len(all_digits) - len(digits)) + len(digits)
    k = len(digits)
    if k <= point <= 21:
        return digits + "0" * (point - k)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    shown = point - 1
    sign = "+" if shown >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(shown)}"


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the code units do (RFC 8785 §3.2.3): an astral
    # character (a surrogate pair, D800–DBFF first) sorts before U+E000–U+FFFF, unlike by code
    # point.
    return key.encode("utf-16-be", "surrogatepass")


def canonical(value: object) -> bytes:
    """The RFC 8785 form of a JSON value (with exact big integers; see the module docstring).

    Iterative, so no nesting depth can exhaust the stack. Raises :class:`ValueError` for anything
    that is not JSON: NaN or an infinity, a lone surrogate, a key that is not a string, or a value
    of another type.
    """
    out: list[str] = []
    # A stack of pending work: either a value to write or a literal piece of punctuation.
    stack: list[tuple[bool, object]] = [(True, value)]
    while stack:
        is_value, item = stack.pop()
        if not is_value:
            assert isinstance(item, str)
            out.append(item)
            continue
        if item is None:
            out.append("null")
        elif item is True:
            out.append("true")
        elif item is False:
            out.append("false")
        elif type(item) is int or type(item) is float:
            out.append(_number(item))
        elif isinstance(item, str):
            out.append(_string(item))
        elif isinstance(item, Mapping):
            for key in item:
                if not isinstance(key, str):
                    raise ValueError(f"object key {key!r} is not a string")
            members = sorted(item.items(), key=lambda member: _utf16_key(member[0]))
            out.append("{")
            pending: list[tuple[bool, object]] = []
            for index, (key, member) in enumerate(members):
                pending.append((False, ("," if index else "") + _string(key) + ":"))
                pending.append((True, member))
            pending.append((False, "}"))
            stack.extend(reversed(pending))
        elif isinstance(item, list | tuple):
            out.append("[")
            pending = []
            for index, element in enumerate(item):
                if index:
                    pending.append((False, ","))
                pending.append((True, element))
            pending.append((False, "]"))
            stack.extend(reversed(pending))
        else:
            raise ValueError(f"a value of type {type(item).__name__} is not JSON")
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("a string holds a lone surrogate, which is not JSON") from error


def _digest(value: object) -> str:
    return f"{SCHEME}:{hashlib.sha256(canonical(value)).hexdigest()}"


def pin_hash(tool: Mapping[str, object]) -> str:
    """``"v1:"`` and the SHA-256 (hex) of the canonical form of the whole tool object.

    Every key is hashed except those on :data:`EXCLUDED_KEYS` (none).
    """
    return _digest({key: value for key, value in tool.items() if key not in EXCLUDED_KEYS})


def instructions_hash(text: str | None) -> str:
    """The pin of a server's ``instructions`` (the canonical form of the JSON string; ``null``
    when the server sends none, so that instructions appearing later is a change too)."""
    return _digest(text)


# --- suspicious text -----------------------------------------------------------------------------

# Characters that hide text from a person reading a definition while the model still reads it, or
# that reorder what a person sees: zero-width characters, the tag block (invisible ASCII
# look-alikes used to smuggle instructions) and the bidirectional controls.
_ZERO_WIDTH = frozenset({0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E})
_BIDI = frozenset({*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C})
_TAGS = range(0xE0000, 0xE0080)
SUSPICIOUS_CODE_POINTS: frozenset[int] = frozenset({*_ZERO_WIDTH, *_BIDI, *_TAGS})

_ZWJ = 0x200D
_VARIATION_SELECTOR_16 = 0xFE0F
# Most findings name few characters; a run of tag characters can spell a whole instruction.
_MAX_CODE_POINTS_SHOWN = 8


def _emoji_part(char: str) -> bool:
    # Emoji are symbols ("So"); skin-tone modifiers are "Sk"; VS16 asks for emoji presentation.
    return ord(char) == _VARIATION_SELECTOR_16 or unicodedata.category(char) in ("So", "Sk")


def suspicious_code_points(text: str) -> list[int]:
    """The distinct suspicious code points in ``text``, in order of first appearance.

    A zero-width joiner between emoji (👩‍💻, 👨‍👩‍👧) is how those emoji are spelled, not hidden
    text, so it is not counted there; anywhere else it is.
    """
    found: dict[int, None] = {}
    for index, char in enumerate(text):
        code = ord(char)
        if code not in SUSPICIOUS_CODE_POINTS:
            continue
        if (
            code == _ZWJ
            and 0 < index < len(text) - 1
            and _emoji_part(text[index - 1])
            and unicodedata.category(text[index + 1]) == "So"
        ):
            continue
        found[code] = None
    return list(found)


def code_point(code: int) -> str:
    """``U+200B``: how a character is named, never by echoing it or the text around it."""
    return f"U+{code:04X}"


def visible(text: str) -> str:
    """``text`` with every suspicious character written as ``<U+XXXX>``, for showing to people."""
    if not any(ord(char) in SUSPICIOUS_CODE_POINTS for char in text):
        return text
    return "".join(
        f"<{code_point(ord(char))}>" if ord(char) in SUSPICIOUS_CODE_POINTS else char
        for char in text
    )


def _walk(value: object) -> Iterator[tuple[str, str, bool]]:
    """Every string in ``value`` with its pointer and whether it is a key; iterative, in order."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        pointer, item = stack.pop()
        if isinstance(item, str):
            yield pointer, item, False
        elif isinstance(item, Mapping):
            children = []
            for key, member in item.items():
                member_pointer = jsonpointer.join(pointer, str(key))
                yield member_pointer, str(key), True
                children.append((member_pointer, member))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(jsonpointer.join(pointer, i), e) for i, e in enumerate(item)]))


def suspicious(tool: Mapping[str, object]) -> list[str]:
    """Every place in ``tool`` (keys included) holding invisible or bidi-control characters.

    One line per place: its JSON pointer (with any suspicious character in it shown as
    ``<U+XXXX>``), ``(key)`` when the key itself holds them, and the code points found, e.g.
    ``/description: U+200B`` or ``/inputSchema/properties/pa<U+202E>th (key): U+202E``.
    """
    findings = []
    for pointer, text, is_key in _walk(tool):
        codes = suspicious_code_points(text)
        if not codes:
            continue
        shown = ", ".join(code_point(code) for code in codes[:_MAX_CODE_POINTS_SHOWN])
        if len(codes) > _MAX_CODE_POINTS_SHOWN:
            shown += f" and {len(codes) - _MAX_CODE_POINTS_SHOWN} more"
        findings.append(f"{visible(pointer)}{' (key)' if is_key else ''}: {shown}")
    return findings


# --- statuses ------------------------------------------------------------------------------------


class Status(StrEnum):
    PINNED = "pinned"
    CHANGED = "changed"
    NEW = "new"
    SUSPICIOUS = "suspicious"
    REMOVED = "removed"


@dataclass(frozen=True)
class ToolStatus:
    """One tool's standing against its pin. ``findings`` are :func:`suspicious`'s lines (and a
    note for a name listed twice); a pinned tool may carry findings a person accepted."""

    name: str
    status: Status
    live_hash: str | None
    pinned_hash: str | None
    findings: tuple[str, ...] = field(default=())


DUPLICATE_NAME = "the listing names this tool more than once"


def statuses(
    pinned: Mapping[str, Mapping[str, object]], live: Sequence[Mapping[str, object]]
) -> list[ToolStatus]:
    """Each live tool's status, in the listing's order, then the removed ones by name.

    Precedence: a tool identical to its pin is ``pinned`` — a person accepted exactly this
    definition, suspicious text included (its findings are still reported). Otherwise a tool
    with suspicious text, or whose name the listing repeats (which definition would the agent
    read?), is ``suspicious``, whether it is new or changed; else ``changed`` or ``new``. A pinned
    name absent from the listing is ``removed``; a rename is a removal and a new tool.

    Raises :class:`ValueError` for a live tool without a string ``name``.
    """
    counts: dict[str, int] = {}
    for tool in live:
        name = tool.get("name")
        if not isinstance(name, str):
            raise ValueError("a listed tool has no string 'name'")
        counts[name] = counts.get(name, 0) + 1
    results = []
    for tool in live:
        name = str(tool["name"])
        live_hash = pin_hash(tool)
        pin = pinned.get(name)
        pinned_hash = pin_hash(pin) if pin is not None else None
        findings = tuple(suspicious(tool))
        if counts[name] > 1:
            findings += (DUPLICATE_NAME,)
        if live_hash == pinned_hash and counts[name] == 1:
            status = Status.PINNED
        elif findings:
            status = Status.SUSPICIOUS
        elif pinned_hash is None:
            status = Status.NEW
        else:
            status = Status.CHANGED
        results.append(ToolStatus(name, status, live_hash, pinned_hash, findings))
    results.extend(
        ToolStatus(name, Status.REMOVED, None, pin_hash(pinned[name]))
        for name in sorted(set(pinned) - set(counts))
    )
    return results


# --- diffs ---------------------------------------------------------------------------------------


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class PointerChange:
    """One value added, removed or changed at ``pointer`` (from the tool's root). ``old`` and
    ``new`` are compact canonical JSON; ``None`` on the side where there is no value."""

    pointer: str
    change: Change
    old: str | None
    new: str | None


@dataclass(frozen=True)
class FieldDiff:
    """What happened to one top-level field. A string on both sides has ``text_diff`` (unified
    diff lines); anything else has ``changes``, the JSON pointers that differ."""

    field: str
    change: Change
    text_diff: tuple[str, ...] = ()
    changes: tuple[PointerChange, ...] = ()


def _json(value: object) -> str:
    return canonical(value).decode("utf-8")


def _pointer_changes(pointer: str, old: object, new: object) -> list[PointerChange]:
    changes = []
    stack: list[tuple[str, object, object]] = [(pointer, old, new)]
    while stack:
        where, before, after = stack.pop()
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            pending = []
            for key in sorted({*before, *after}, key=_utf16_key):
                here = jsonpointer.join(where, key)
                if key not in after:
                    changes.append(PointerChange(here, Change.REMOVED, _json(before[key]), None))
                elif key not in before:
                    changes.append(PointerChange(here, Change.ADDED, None, _json(after[key])))
                else:
                    pending.append((here, before[key], after[key]))
            stack.extend(reversed(pending))
        elif isinstance(before, list) and isinstance(after, list):
            pending = []
            for index in range(max(len(before), len(after))):
                here = jsonpointer.join(where, index)
                if index >= len(after):
                    changes.append(PointerChange(here, Change.REMOVED, _json(before[index]), None))
                elif index >= len(before):
                    changes.append(PointerChange(here, Change.ADDED, None, _json(after[index])))
                else:
                    pending.append((here, before[index], after[index]))
            stack.extend(reversed(pending))
        elif _json(before) != _json(after):  # as the hash sees them: 1 and 1.0 are one number
            changes.append(PointerChange(where, Change.CHANGED, _json(before), _json(after)))
    return changes


def diff(pinned: Mapping[str, object], live: Mapping[str, object]) -> list[FieldDiff]:
    """Field by field, what differs between a pinned definition and the live one.

    Fields in canonical key order. A string field on both sides gets a unified line diff (so a
    long description shows the lines that changed); any other field gets the JSON pointers that
    were added, removed or changed, with their values as compact JSON.
    """
    result = []
    for name in sorted({*pinned, *live}, key=_utf16_key):
        here = jsonpointer.join("", name)
        if name not in live:
            old = _json(pinned[name])
            removed = (PointerChange(here, Change.REMOVED, old, None),)
            result.append(FieldDiff(name, Change.REMOVED, changes=removed))
        elif name not in pinned:
            added = (PointerChange(here, Change.ADDED, None, _json(live[name])),)
            result.append(FieldDiff(name, Change.ADDED, changes=added))
        elif _json(pinned[name]) == _json(live[name]):
            continue
        else:
            before, after = pinned[name], live[name]
            if isinstance(before, str) and isinstance(after, str):
                lines = difflib.unified_diff(
                    before.splitlines(),
                    after.splitlines(),
                    fromfile=f"pinned {here}",
                    tofile=f"live {here}",
                    lineterm="",
                )
                result.append(FieldDiff(name, Change.CHANGED, text_diff=tuple(lines)))
            else:
                changes = tuple(_pointer_changes(here, before, after))
                result.append(FieldDiff(name, Change.CHANGED, changes=changes))
    return result


def render_diff(fields: Sequence[FieldDiff]) -> list[str]:
    """Plain text lines for people; suspicious characters are shown as ``<U+XXXX>``."""
    lines = []
    for item in fields:
        if item.text_diff:
            lines.append(f"/{jsonpointer.escape(item.field)} changed:")
            lines.extend(item.text_diff)
        for change in item.changes:
            if change.change is Change.ADDED:
                lines.append(f"{change.pointer} added: {change.new}")
            elif change.change is Change.REMOVED:
                lines.append(f"{change.pointer} removed (was {change.old})")
            else:
                lines.append(f"{change.pointer}: {change.old} → {change.new}")
    return [visible(line) for line in lines]


# --- stored pins ---------------------------------------------------------------------------------
#
# What a store keeps per upstream (``ports.store.PinStore``): each pinned tool object as JSON
# text, exactly as the upstream sent it (key order and all text intact: it is what a diff shows),
# with its hash and who pinned it when; and the pin of the server's instructions. The functions
# below are the one place that writes and reads that text, so every store fails closed alike.


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""``pin_tools(..., instructions=UNSET)``: leave the instructions' pin as it is."""

InstructionsArg: TypeAlias = "str | Literal[_Unset.UNSET] | None"


@dataclass(frozen=True, slots=True)
class ToolPin:
    """One pinned tool: the object as the upstream sent it, its :func:`pin_hash`, who and when."""

    tool: Mapping[str, object]
    hash: str
    pinned_at: datetime
    pinned_by: str


@dataclass(frozen=True, slots=True)
class InstructionsPin:
    """The pinned ``instructions`` of a server (None: it sent none), and their hash."""

    text: str | None
    hash: str
    pinned_at: datetime
    pinned_by: str


@dataclass(frozen=True, slots=True)
class Pins:
    """An upstream's pins: its tools by name, and its instructions (None: never pinned)."""

    upstream: str
    tools: Mapping[str, ToolPin] = field(default_factory=dict)
    instructions: InstructionsPin | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tools", MappingProxyType(dict(self.tools)))

    @property
    def empty(self) -> bool:
        """Whether nothing was ever pinned (or everything was unpinned)."""
        return not self.tools and self.instructions is None

    def definitions(self) -> dict[str, Mapping[str, object]]:
        """The pinned tool objects by name, as :func:`statuses` takes them."""
        return {name: pin.tool for name, pin in self.tools.items()}


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"a value of type {type(value).__name__} is not JSON")


def definition_text(tool: Mapping[str, object]) -> str:
    """The JSON text a store keeps for ``tool``: compact, keys in the order given, non-ASCII
    text as it is; reading it back (:func:`read_tool_pin`) gives an equal object."""
    return json.dumps(
        tool, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain
    )


@dataclass(frozen=True, slots=True)
class NewPin:
    """A tool about to be pinned: its name, stored text and hash, computed here, never taken
    from a caller."""

    name: str
    text: str
    hash: str


def new_pins(upstream: str, tools: Sequence[Mapping[str, object]]) -> list[NewPin]:
    """Check tools to pin (objects, each with a distinct string ``name``, all JSON) and compute
    what a store keeps of each; :class:`InvalidValue` for the first that is not fit."""
    pins: list[NewPin] = []
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        where = f'upstream "{upstream}" tool #{index}'
        if not isinstance(tool, Mapping):
            raise InvalidValue(where, type(tool).__name__, "a JSON object")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidValue(f"{where} name", repr(name), "a non-empty string")
        if name in seen:
            raise InvalidValue(f"{where} name", name, "a name no other tool given has")
        seen.add(name)
        try:
            digest = pin_hash(tool)
            text = definition_text(tool)
        except (TypeError, ValueError) as error:
            raise InvalidValue(f'{where} "{visible(name)}"', str(error), "a JSON object") from None
        pins.append(NewPin(name, text, digest))
    return pins


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {json.dumps(key)}")
        result[key] = value
    return result


def _check_scheme(upstream: str, tool: str | None, stored_hash: object) -> str:
    if not isinstance(stored_hash, str) or not stored_hash.startswith(SCHEME + ":"):
        shown = str(stored_hash)[:16]
        reason = f'its hash "{shown}" is not of scheme {SCHEME}'
        raise PinUnreadable(upstream, tool, reason)
    return stored_hash


def read_tool_pin(
    upstream: str, name: str, text: str, stored_hash: str, pinned_at: datetime, pinned_by: str
) -> ToolPin:
    """A stored tool pin, checked: :class:`PinUnreadable` when its hash is of another scheme,
    its text is not one JSON object named ``name``, or the hash is not the text's."""
    _check_scheme(upstream, name, stored_hash)
    try:
        tool = json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constants)
    except (TypeError, ValueError) as error:
        raise PinUnreadable(upstream, name, f"its definition is not JSON: {error}") from None
    if not isinstance(tool, dict) or tool.get("name") != name:
        raise PinUnreadable(upstream, name, "its definition is not an object with this name")
    if pin_hash(tool) != stored_hash:
        raise PinUnreadable(upstream, name, "its hash is not the hash of its definition")
    return ToolPin(tool, stored_hash, pinned_at, pinned_by)


def read_instructions_pin(
    upstream: str, text: str | None, stored_hash: str, pinned_at: datetime, pinned_by: str
) -> InstructionsPin:
    """The stored pin of a server's instructions, checked as :func:`read_tool_pin` does."""
    _check_scheme(upstream, None, stored_hash)
    if instructions_hash(text) != stored_hash:
        raise PinUnreadable(upstream, None, "its hash is not the hash of the instructions")
    return InstructionsPin(text, stored_hash, pinned_at, pinned_by)


def new_instructions_hash(upstream: str, text: str | None) -> str:
    """:func:`instructions_hash`, or :class:`InvalidValue` when ``text`` is not JSON text."""
    if text is not None and not isinstance(text, str):
        raise InvalidValue(f'upstream "{upstream}" instructions', repr(text), "text or None")
    try:
        return instructions_hash(text)
    except ValueError as error:
        raise InvalidValue(f'upstream "{upstream}" instructions', str(error), "JSON text") from None


# --- what the gateway does with a listed tool ----------------------------------------------------

DEFINITION_CHANGED_RULE = "(definition changed)"
"""The proxy-log rule of a call refused because its tool's definition differs from its pin."""
NOT_PINNED_RULE = "(not pinned)"
"""The proxy-log rule of a call refused because its tool was not there when the upstream was
pinned, or carries suspicious text and was never accepted."""
PIN_UNREADABLE_RULE = "(pin unreadable)"
"""The proxy-log rule of a call refused because the upstream's stored pins cannot be read."""


@dataclass(frozen=True, slots=True)
class Standing:
    """How one listed tool stands against its pin, and whether the gateway withholds it.

    ``status`` is ``PINNED`` for a tool identical to its pin, None when the upstream's pins
    cannot be read; ``mark`` is what the tool's proxy-log rows carry (empty for a pinned
    tool) and ``rule`` the rule of a refused call of it, whether or not the mode withholds it.
    """

    status: Status | None
    withheld: bool
    was_pinned: bool = True

    @property
    def mark(self) -> str:
        if self.status is None:
            return "unreadable"
        return "" if self.status is Status.PINNED else self.status.value

    @property
    def rule(self) -> str:
        if self.status is None:
            return PIN_UNREADABLE_RULE
        if self.status is Status.PINNED:
            return ""
        return DEFINITION_CHANGED_RULE if self.was_pinned else NOT_PINNED_RULE


SERVED = Standing(Status.PINNED, withheld=False)
UNREADABLE = Standing(None, withheld=True)
"""Every tool of an upstream whose pins cannot be read, in either mode: nothing says what was
reviewed, so nothing is served (fail closed)."""


def standing(
    *,
    enforce: bool,
    pinned_hash: str | None,
    live_hash: str,
    suspicious_text: bool,
    duplicated: bool = False,
) -> Standing:
    """One tool's :class:`Standing`, by the precedence of :func:`statuses`.

    ``enforce`` is the mode (a tool not pinned as it is now is withheld; in ``warn`` mode it
    is served and marked), ``pinned_hash`` its pin (None: never pinned), ``live_hash`` its
    :func:`pin_hash` as listed now, ``suspicious_text`` whether :func:`suspicious` finds
    anything in it and ``duplicated`` whether the listing names it more than once.
    """
    if live_hash == pinned_hash and not duplicated:
        return SERVED  # a person accepted exactly this definition, any findings included
    if suspicious_text or duplicated:
        status = Status.SUSPICIOUS
    elif pinned_hash is None:
        status = Status.NEW
    else:
        status = Status.CHANGED
    return Standing(status, withheld=enforce, was_pinned=pinned_hash is not None)

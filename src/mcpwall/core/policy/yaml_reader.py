"""YAML text → JSON values for ``|yaml`` and ``|yaml_all``, refusing what reads two ways.

Values are read with the YAML 1.2 core schema (DESIGN §3). The events come from libyaml, through
PyYAML: it is the C parser that go-yaml — and so kubectl — was ported from, and it reads a
Deployment in about 44 µs where a pure-Python parser takes a millisecond. Building values from
the events here, not with a library's constructor, lets each construct that makes a document
ambiguous or explosive be refused where it appears, with its line:

- anchors and aliases (a "billion laughs" document is refused at its first anchor), tags,
  merge keys (``<<``) and directives other than ``%YAML 1.2``;
- duplicate keys, and keys that are not strings;
- plain scalars that YAML 1.1 reads as another value than the 1.2 core schema does. kubectl
  reads manifests with go-yaml, a YAML 1.1 reader: ``hostNetwork: yes`` is ``true`` there and
  the string ``"yes"`` here, ``runAsUser: 0100`` is 64 there and 100 here. Quoting the value
  removes the doubt, so the refusal says to;
- numbers JSON cannot carry (``.inf``, ``.nan``) or that readers round differently (past
  ±(2**53 - 1)), and numbers written with more than :data:`MAX_NUMERAL` characters, refused
  before any conversion;
- more than :data:`MAX_DEPTH` levels of nesting or :data:`MAX_VALUES` values;
- lone surrogates, and the line breaks only YAML 1.1 knows (U+0085, U+2028, U+2029).

Reasons name the line and the construct, never the text (they end up in the proxy log); the one
exception is the name of a duplicate key, shown when it looks like an identifier.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from mcpwall.core.errors import UnreadableValue
from mcpwall.core.jsonvalue import is_number, is_safe_number
from mcpwall.core.policy.decoders import MAX_DEPTH, MAX_VALUES, shown_key

MAX_NUMERAL = 100  # characters of a plain number: ±(2**53 - 1) takes 17, a float rarely more

# libyaml when PyYAML was built with it (its wheels are); its pure-Python twin otherwise.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LIBYAML = _LOADER is not yaml.SafeLoader


def read_stream(text: str) -> list[object]:
    """The documents of a YAML stream, in order; empty documents (a stray ``---``) are left out.

    Raises :class:`UnreadableValue` saying why the stream cannot be read safely.
    """
    return _Reader().stream(text)


def read_document(text: str) -> object:
    """The one document of ``text``; a stream of none or of several is refused."""
    documents = read_stream(text)
    if len(documents) != 1:
        found = "no document" if not documents else f"{len(documents)} documents"
        raise UnreadableValue(f"found {found} (|yaml reads one; |yaml_all reads a stream)")
    return documents[0]


class _Reader:
    """Builds JSON values from one stream's events, counting values as it goes."""

    def __init__(self) -> None:
        self.values = 0

    def stream(self, text: str) -> list[object]:
        documents: list[object] = []
        events = _events(text)
        for event in events:
            if isinstance(event, DocumentStartEvent):
                _check_directives(event)
                root = next(events)
                if not _is_empty(root):
                    documents.append(self.node(root, events, 0))
            elif isinstance(event, StreamEndEvent):
                break
        return documents

    def node(self, event: Event, events: Iterator[Event], depth: int) -> object:
        self.count(event)
        kind = type(event)
        if kind is ScalarEvent:
            _check_node(event)
            return _scalar(event)  # type: ignore[arg-type]
        _check_node(event)
        if depth == MAX_DEPTH:
            raise UnreadableValue(f"nested deeper than {MAX_DEPTH} levels at line {_line(event)}")
        if kind is SequenceStartEvent:
            items: list[object] = []
            for item in events:
                if type(item) is SequenceEndEvent:
                    return items
                items.append(self.node(item, events, depth + 1))
        elif kind is MappingStartEvent:
            mapping: dict[str, object] = {}
            for key_event in events:
                if type(key_event) is MappingEndEvent:
                    return mapping
                key = self.key(key_event)
                if key in mapping:
                    line = _line(key_event)
                    raise UnreadableValue(f"duplicate key {shown_key(key)} at line {line}")
                mapping[key] = self.node(next(events), events, depth + 1)
        raise UnreadableValue(f"an unexpected YAML event at line {_line(event)}")  # not reached

    def key(self, event: Event) -> str:
        self.count(event)
        _check_node(event)
        if type(event) is not ScalarEvent:
            raise UnreadableValue(
                f"a key at line {_line(event)} that is a collection, not a string"
            )
        key = _scalar(event)
        if type(key) is not str:
            raise UnreadableValue(f"a key at line {_line(event)} that is not a string (quote it)")
        return key

    def count(self, event: Event) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise UnreadableValue(
                f"more than {MAX_VALUES:,} values (the limit is reached at line {_line(event)})"
            )


def _events(text: str) -> Iterator[Event]:
    """libyaml's events for ``text``, its errors turned into reasons without quoting the text."""
    _check_characters(text)
    parsed = yaml.parse(text, Loader=_LOADER)
    while True:
        try:
            event = next(parsed)
        except StopIteration:
            return
        except yaml.reader.ReaderError as exc:
            code = ord(exc.character) if isinstance(exc.character, str) else exc.character
            raise UnreadableValue(
                f"a character YAML does not allow (U+{code:04X}) at position {exc.position + 1}"
            ) from None
        except yaml.MarkedYAMLError as exc:
            raise UnreadableValue(_syntax_error(exc)) from None
        except yaml.YAMLError:
            raise UnreadableValue("not valid YAML") from None
        yield event


def _check_characters(text: str) -> None:
    # JSON strings can carry lone surrogates, which are not text; and YAML 1.1 (libyaml, go-yaml)
    # breaks lines at U+0085, U+2028 and U+2029 where YAML 1.2 reads ordinary characters.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnreadableValue(
            f"a lone surrogate (U+{ord(text[exc.start]):04X}), which is not text, "
            f"at position {exc.start + 1}"
        ) from None
    found = _VERSIONED_BREAK.search(text)
    if found:
        raise UnreadableValue(
            f"a line break only YAML 1.1 knows (U+{ord(found.group()):04X}) "
            f"at position {found.start() + 1}"
        )


_VERSIONED_BREAK = re.compile("[\x85\u2028\u2029]")


def _syntax_error(exc: yaml.MarkedYAMLError) -> str:
    # libyaml's problems are fixed phrases compiled into it ("did not find expected key"); the
    # pure-Python parser's quote the text ("found unknown escape character 'q'"): not shown.
    problem = (exc.problem or exc.context or "") if _LIBYAML else ""
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{problem or 'a syntax error'}{where}"


def _check_directives(event: DocumentStartEvent) -> None:
    # %YAML 1.1 would tell a conforming reader to read "yes" as true; %TAG only serves tags.
    if event.version is not None and tuple(event.version) != (1, 2):
        major, minor = event.version
        raise UnreadableValue(f"a %YAML {major}.{minor} directive (only YAML 1.2 is read)")
    if event.tags:
        raise UnreadableValue("a %TAG directive (tags are not read)")


def _check_node(event: Event) -> None:
    """Refuse aliases, anchors and tags: what makes a small text a huge or retyped value."""
    if type(event) is AliasEvent:
        raise UnreadableValue(f"an alias (*) at line {_line(event)}")
    if event.anchor is not None:  # type: ignore[attr-defined]
        raise UnreadableValue(f"an anchor (&) at line {_line(event)}")
    if event.tag:  # type: ignore[attr-defined]
        raise UnreadableValue(f"a tag (!) at line {_line(event)}")


def _is_empty(event: Event) -> bool:
    """A document with nothing in it: libyaml gives it one empty plain scalar."""
    return (
        isinstance(event, ScalarEvent)
        and event.value == ""
        and not event.style
        and event.anchor is None
        and event.tag is None
    )


def _line(event: Event) -> int:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else 0


def _scalar(event: ScalarEvent) -> object:
    text = event.value
    if event.style:  # quoted, literal or folded: always a string
        return text
    first = text[:1]
    if first.isascii() and first.isalpha() and text not in _SPECIAL_WORDS:
        return text  # a word: a string to either schema (most keys and values are)
    if text.isascii() and text.isdigit() and (first != "0" or len(text) == 1) and len(text) < 16:
        return int(text)  # a decimal both schemas read alike, and well within ±(2**53 - 1)
    if text == "<<":
        raise UnreadableValue(f"a merge key (<<) at line {_line(event)}")
    if len(text) > MAX_NUMERAL and _is_numeral(text):
        # Far past any safe number; and converting it could take seconds (base 60 over a
        # megabyte) or meet Python's own limit on the digits of an integer.
        raise UnreadableValue(
            f"a number at line {_line(event)} written with more than {MAX_NUMERAL} characters"
        )
    value = core_schema(text)
    if not _same(value, yaml_1_1(text)):
        raise UnreadableValue(
            f"the plain value at line {_line(event)} reads differently in YAML 1.1 and 1.2 "
            "(quote it)"
        )
    if is_number(value) and not is_safe_number(value):
        raise UnreadableValue(
            f"a number at line {_line(event)} that is not finite or is past ±(2**53 - 1), "
            "which readers round differently"
        )
    return value


# The plain scalars beginning with a letter that either schema reads as something else.
_SPECIAL_WORDS = frozenset(
    (
        *("null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"),
        *("y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"),
        *("on", "On", "ON", "off", "Off", "OFF"),
    )
)


def _is_numeral(text: str) -> bool:
    """Whether either schema reads a plain scalar as a number (each pattern takes linear time)."""
    return text[:1] in _NUMERAL_STARTS and any(
        pattern.fullmatch(text) for pattern in _NUMERAL_PATTERNS
    )


def _same(core: object, old: object) -> bool:
    if type(core) is not type(old):
        return False
    if isinstance(core, float) and math.isnan(core):
        return isinstance(old, float) and math.isnan(old)
    return core == old


# -- the YAML 1.2 core schema (YAML 1.2.2, §10.3.2) ----------------------------------------------

_CORE_NULL = re.compile(r"null|Null|NULL|~|")
_CORE_TRUE = re.compile(r"true|True|TRUE")
_CORE_FALSE = re.compile(r"false|False|FALSE")
_CORE_INT = re.compile(r"[-+]?[0-9]+")
_CORE_OCTAL = re.compile(r"0o[0-7]+")
_CORE_HEX = re.compile(r"0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_CORE_INF = re.compile(r"[-+]?(\.inf|\.Inf|\.INF)")
_CORE_NAN = re.compile(r"\.nan|\.NaN|\.NAN")


def core_schema(text: str) -> object:
    """What a plain scalar means under the YAML 1.2 core schema."""
    if _CORE_NULL.fullmatch(text):
        return None
    if _CORE_TRUE.fullmatch(text):
        return True
    if _CORE_FALSE.fullmatch(text):
        return False
    if _CORE_INT.fullmatch(text):
        return int(text)
    if _CORE_OCTAL.fullmatch(text):
        return int(text[2:], 8)
    if _CORE_HEX.fullmatch(text):
        return int(text[2:], 16)
    if _CORE_FLOAT.fullmatch(text):
        return float(text)
    if _CORE_INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _CORE_NAN.fullmatch(text):
        return math.nan
    return text


# -- YAML 1.1's implicit types (yaml.org/type), as 1.1 readers implement them ---------------------

_OLD_NULL = _CORE_NULL
_OLD_TRUE = re.compile(r"y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON")
_OLD_FALSE = re.compile(r"n|N|no|No|NO|false|False|FALSE|off|Off|OFF")
_OLD_BINARY = re.compile(r"[-+]?0b[0-1_]+")
_OLD_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_OLD_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9_]*)")
_OLD_HEX = re.compile(r"[-+]?0x[0-9a-fA-F_]+")
_OLD_SEXAGESIMAL = re.compile(r"[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
# The spec's float allows "." and "1.2.3"; readers (PyYAML, go-yaml) want digits and one dot.
_OLD_FLOAT = re.compile(r"[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?")
_OLD_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_OLD_NAN = re.compile(r"\.(nan|NaN|NAN)")
_OLD_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?"
    r"([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?"
)


# Every number either schema reads begins with one of these (dates do too, but cost nothing).
_NUMERAL_STARTS = frozenset("+-.0123456789")
_NUMERAL_PATTERNS = (
    *(_CORE_INT, _CORE_OCTAL, _CORE_HEX, _CORE_FLOAT, _CORE_INF, _CORE_NAN),
    *(_OLD_BINARY, _OLD_OCTAL, _OLD_DECIMAL, _OLD_HEX, _OLD_SEXAGESIMAL, _OLD_FLOAT),
)


class _Timestamp:
    """What YAML 1.1 makes of a date: a type the core schema (and JSON) doesn't have."""


def yaml_1_1(text: str) -> object:
    """What a plain scalar means to a YAML 1.1 reader (a :class:`_Timestamp` for dates)."""
    if _OLD_NULL.fullmatch(text):
        return None
    if _OLD_TRUE.fullmatch(text):
        return True
    if _OLD_FALSE.fullmatch(text):
        return False
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    unsigned = digits.lstrip("+-")
    if _OLD_BINARY.fullmatch(text):
        return sign * int(unsigned[2:] or "0", 2)
    if _OLD_HEX.fullmatch(text):
        return sign * int(unsigned[2:] or "0", 16)
    if _OLD_OCTAL.fullmatch(text):
        return sign * int(unsigned, 8)
    if _OLD_DECIMAL.fullmatch(text):
        return sign * int(unsigned)
    if _OLD_SEXAGESIMAL.fullmatch(text):
        return sign * _base_60(unsigned)
    if _OLD_FLOAT.fullmatch(text) and any(char.isdigit() for char in text):
        return float(digits)
    if _OLD_INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _OLD_NAN.fullmatch(text):
        return math.nan
    if _OLD_TIMESTAMP.fullmatch(text):
        return _Timestamp()
    return text


def _base_60(text: str) -> int | float:
    value: int | float = 0
    for part in text.split(":"):
        value = value * 60 + (float(part) if "." in part else int(part))
    return value

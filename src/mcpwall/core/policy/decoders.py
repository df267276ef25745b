"""The decoders a path may apply to a string: ``|json``, ``|yaml``, ``|yaml_all``, ``|shell``.

Each reads one string into a JSON value, or refuses it with :class:`UnreadableValue` (DESIGN §3,
"What cannot be read is refused"): a value that is not a string, more than :data:`MAX_BYTES`,
more than :data:`MAX_DEPTH` levels or :data:`MAX_VALUES` values, and whatever the format's own
reader refuses (see :mod:`~mcpwall.core.policy.yaml_reader` and
:mod:`~mcpwall.core.policy.shell_words`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from mcpwall.core.errors import UnreadableValue
from mcpwall.core.jsonvalue import is_number, is_safe_number, type_name
from mcpwall.core.policy import shell_words

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32  # for every reader: the same document is within the limits whichever reads it
MAX_VALUES = 10_000
_SHOWN_KEY = re.compile(r"[A-Za-z0-9_.\-/]{1,64}")


@dataclass(frozen=True, slots=True)
class Decoder:
    """One decoder: its name after ``|``, the format it reads, and what it produces.

    ``yields`` is ``"any"`` (any JSON value), ``"array"`` (an array of any values) or
    ``"strings"`` (an array of strings): compilation uses it to refuse paths that can't match.
    """

    name: str
    reads_as: str
    read: Callable[[str], object]
    yields: str

    def decode(self, value: object) -> object:
        """``value`` decoded, or :class:`UnreadableValue` saying why it can't be."""
        if type(value) is not str:
            raise UnreadableValue(f"it is {_a(type_name(value))}, not a string")
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_BYTES:
            raise UnreadableValue(f"it is {size:,} bytes, over the limit of {MAX_BYTES:,}")
        return self.read(value)


def shown_key(key: str) -> str:
    """A key as a reason may show it: quoted when it looks like an identifier, else not at all."""
    return f'"{key}"' if _SHOWN_KEY.fullmatch(key) else "(a key not shown)"


def _a(noun: str) -> str:
    if noun == "null":
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def read_json(text: str) -> object:
    """One JSON document: strict (no NaN, no duplicate keys), within the limits."""
    try:
        value = json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as exc:
        raise UnreadableValue(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise UnreadableValue(f"nested deeper than {MAX_DEPTH} levels") from None
    except _RefusedError as exc:
        raise UnreadableValue(str(exc)) from None
    except ValueError:  # Python's own limit on the digits of an integer
        raise UnreadableValue("a number with too many digits") from None
    _check_json(value)
    return value


class _RefusedError(ValueError):
    """Raised from the parser's hooks, to be told apart from the parser's own errors."""


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RefusedError(f"duplicate key {shown_key(key)}")
            seen.add(key)
    return result


def _refuse_constant(name: str) -> object:
    raise _RefusedError(f"{name} is not a JSON number")


def _check_json(value: object) -> None:
    """Depth, number of values, and numbers every reader reads alike, in one walk.

    Keys count as values, as they do for YAML: the same document is within the limit or over
    it whichever decoder reads it.
    """
    count = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        count += 1 + len(node) if isinstance(node, dict) else 1
        if count > MAX_VALUES:
            raise UnreadableValue(f"more than {MAX_VALUES:,} values")
        if isinstance(node, dict | list):
            if depth == MAX_DEPTH:
                raise UnreadableValue(f"nested deeper than {MAX_DEPTH} levels")
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
        elif is_number(node) and not is_safe_number(node):
            raise UnreadableValue("a number past ±(2**53 - 1), which readers round differently")


# PyYAML loads with the first YAML value read (:mod:`~mcpwall.core.policy.yaml_reader`): most
# policies never decode one, and ``mcpwall stdio`` does not wait for it at every start.


def read_yaml_document(text: str) -> object:
    """One YAML document."""
    from mcpwall.core.policy.yaml_reader import read_document

    return read_document(text)


def read_yaml_stream(text: str) -> list[object]:
    """Every YAML document of a stream, as an array."""
    from mcpwall.core.policy.yaml_reader import read_stream

    return read_stream(text)


DECODERS: dict[str, Decoder] = {
    decoder.name: decoder
    for decoder in (
        Decoder("json", "JSON", read_json, "any"),
        Decoder("yaml", "YAML", read_yaml_document, "any"),
        Decoder("yaml_all", "YAML", read_yaml_stream, "array"),
        Decoder("shell", "shell words", shell_words.split_words, "strings"),
    )
}
"""Every decoder, by the name written after ``|``."""

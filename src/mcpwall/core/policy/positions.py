"""Where each place of a document is in its text: JSON pointer → line.

The parsers keep no positions (``json`` and the YAML safe loader build plain values), so a
problem names its place by pointer alone. For an editor that wants to point at the line, this
reads the text once more: JSON with a small scanner over the standard library's own string and
number readers, YAML with ruamel's composer (nodes that carry their marks). It is a help and
never a judge: a text it cannot read gives fewer lines or none, and the pointers stay.

A key's place is the line of the key (``"op": "in_list"`` → the line holding ``"op"``); an array
element's is the line where it starts. Where a key appears twice the later one counts, as the
parsers keep the later value.
"""

from __future__ import annotations

import contextlib
import json
import re
from bisect import bisect_left
from collections.abc import Mapping

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mcpwall.core import jsonpointer
from mcpwall.core.errors import Problem

# Composing YAML in pure Python costs a few microseconds a byte: past this, no YAML lines.
MAX_YAML_CHARACTERS = 256 * 1024
# Aliases can make a small YAML text stand for a huge tree: stop walking after this many nodes.
MAX_NODES = 200_000

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_AT_LINE = re.compile(r"\bat line (\d+)\b")
_DECODER = json.JSONDecoder()


class Lines:
    """The line (counted from 1) of each place in one document's text."""

    def __init__(self, table: Mapping[str, int]) -> None:
        self._table = dict(table)

    def __len__(self) -> int:
        return len(self._table)

    def of(self, pointer: str) -> int | None:
        """The line of ``pointer``'s place, else of the nearest place that holds it.

        A problem about a missing key names the object that lacks it, and an unknown pointer
        falls back to the closest enclosing place the text has; None when there is none.
        """
        while True:
            if pointer in self._table:
                return self._table[pointer]
            if not pointer:
                return None
            pointer = pointer.rpartition("/")[0]

    def of_problem(self, problem: Problem) -> int | None:
        """The line a problem is about: the one its message names (a syntax error says
        ``at line N``, and has no pointer), else its pointer's."""
        if not problem.pointer:
            said = _AT_LINE.search(problem.message)
            if said is not None:
                return int(said.group(1))
        return self.of(problem.pointer)


def document_lines(text: str) -> Lines:
    """The lines of ``text``'s places, read as JSON when it looks like JSON (as the policy
    loader decides), else as YAML."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip().startswith(("{", "[")):
        return Lines(_JSONLines(text).table)
    return Lines(_yaml_lines(text))


class _JSONLines:
    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [match.start() for match in re.finditer("\n", text)]
        self.table: dict[str, int] = {}
        # Text that is not JSON from some point on: the places read up to there are right.
        with contextlib.suppress(ValueError, IndexError, RecursionError):
            self.value(0, "")

    def line(self, index: int) -> int:
        return bisect_left(self.newlines, index) + 1

    def skip(self, index: int) -> int:
        found = _WHITESPACE.match(self.text, index)
        return found.end() if found is not None else index

    def value(self, index: int, pointer: str) -> int:
        """Record the places of the value at ``index``; return where it ends."""
        text = self.text
        index = self.skip(index)
        self.table[pointer] = self.line(index)
        opening = text[index]
        if opening == "{":
            return self.members(index + 1, pointer)
        if opening == "[":
            return self.elements(index + 1, pointer)
        return _DECODER.raw_decode(text, index)[1]

    def members(self, index: int, pointer: str) -> int:
        text = self.text
        index = self.skip(index)
        if text[index] == "}":
            return index + 1
        while True:
            if text[index] != '"':
                raise ValueError("expected a key")
            key, end = _DECODER.raw_decode(text, index)  # a string: it starts with '"'
            place, key_line = jsonpointer.join(pointer, str(key)), self.line(index)
            index = self.skip(end)
            if text[index] != ":":
                raise ValueError("expected a colon")
            index = self.skip(self.value(index + 1, place))
            self.table[place] = key_line
            if text[index] == "}":
                return index + 1
            if text[index] != ",":
                raise ValueError("expected a comma")
            index = self.skip(index + 1)

    def elements(self, index: int, pointer: str) -> int:
        text = self.text
        index = self.skip(index)
        if text[index] == "]":
            return index + 1
        position = 0
        while True:
            index = self.skip(self.value(index, jsonpointer.join(pointer, position)))
            position += 1
            if text[index] == "]":
                return index + 1
            if text[index] != ",":
                raise ValueError("expected a comma")
            index += 1


def _yaml_lines(text: str) -> dict[str, int]:
    if len(text) > MAX_YAML_CHARACTERS:
        return {}
    try:
        root = YAML(typ="safe", pure=True).compose(text)
    except (YAMLError, RecursionError, ValueError):
        return {}
    table: dict[str, int] = {}
    if isinstance(root, Node):
        with contextlib.suppress(RecursionError, _TooManyNodesError):
            _walk(root, "", table, [MAX_NODES])
    return table


class _TooManyNodesError(Exception):
    pass


def _walk(node: Node, pointer: str, table: dict[str, int], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooManyNodesError
    table[pointer] = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                continue
            place = jsonpointer.join(pointer, str(key.value))
            _walk(value, place, table, budget)
            table[place] = key.start_mark.line + 1
    elif isinstance(node, SequenceNode):
        for position, item in enumerate(node.value):
            _walk(item, jsonpointer.join(pointer, position), table, budget)

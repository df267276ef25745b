"""Checking the shape of a loaded JSON document while collecting every problem.

Readers of documents (policies, cases files, declarative config) subclass :class:`ShapeReader`
so that every one of them reports the same way: the pointer, what was found, what was expected,
and a did-you-mean for a misspelt key or choice.
"""

from __future__ import annotations

from mcpwall.core import jsonpointer
from mcpwall.core.errors import Problem
from mcpwall.core.jsonvalue import render, type_name
from mcpwall.core.suggest import did_you_mean, expected_one_of


class ShapeReader:
    """Collects :class:`Problem` s in ``problems`` instead of stopping at the first one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, pointer: str, message: str) -> None:
        self.problems.append(Problem(pointer, message))

    def expect_object(
        self, value: object, pointer: str, keys: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, object] | None:
        """``value`` as an object with only ``keys``; reports wrong types and keys."""
        if not isinstance(value, dict):
            self.problem(pointer, f"expected an object, found {type_name(value)} {render(value)}")
            return None
        for key in value:
            if isinstance(key, str) and key not in keys:  # other keys: see document.py
                hint = did_you_mean(key, keys)
                self.problem(
                    jsonpointer.join(pointer, key),
                    f'unknown key "{key}" ({expected_one_of(keys)}{hint})',
                )
        for key in required:
            if key not in value:
                self.problem(pointer, f'missing required key "{key}"')
        return value

    def expect_array(self, value: object, pointer: str) -> list[object]:
        """``value`` as an array; an empty one (and a problem) when it is something else."""
        if not isinstance(value, list):
            self.problem(pointer, f"expected an array, found {type_name(value)} {render(value)}")
            return []
        return value

    def expect_choice(self, value: object, pointer: str, choices: tuple[str, ...]) -> str | None:
        if isinstance(value, str) and value in choices:
            return value
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        self.problem(pointer, f"found {render(value)} ({expected_one_of(choices)}{hint})")
        return None

    def expect_string(self, value: object, pointer: str) -> str | None:
        if isinstance(value, str):
            return value
        self.problem(pointer, f"expected a string, found {type_name(value)} {render(value)}")
        return None

    def expect_text(self, value: object, pointer: str) -> str | None:
        """A string with something in it besides whitespace."""
        text = self.expect_string(value, pointer)
        if text is not None and not text.strip():
            self.problem(pointer, "expected a non-empty string, found an empty one")
            return None
        return text

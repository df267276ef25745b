"""Checks on the raw document as a whole, before its meaning is read.

A policy may come from YAML, which has types JSON lacks (dates, binary, sets) and aliases
that can make a small file stand for an enormous tree. These checks bound the work and make
sure what follows sees plain JSON with safe numbers only.
"""

from __future__ import annotations

from mcpwall.core import jsonpointer
from mcpwall.core.errors import PolicyError, Problem
from mcpwall.core.jsonvalue import MAX_SAFE_INTEGER, is_number, is_safe_number, render, type_name

MAX_DEPTH = 32
MAX_NODES = 100_000


class DuplicateKeyObject(dict[str, object]):
    """A JSON object in which some key appeared more than once (the parser kept the last)."""

    duplicates: tuple[str, ...] = ()


class _TooBigError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def check_document(document: object, source: str = "") -> list[Problem]:
    """Every problem with the document's JSON-ness: types, keys, duplicates, numbers.

    Raises :class:`PolicyError` at once for a document too large or too deep to look at.
    """
    problems: list[Problem] = []
    budget = [MAX_NODES]
    try:
        _walk(document, "", 0, problems, budget)
    except _TooBigError as exc:
        raise PolicyError([exc.problem], source=source) from None
    return problems


def _walk(
    node: object, pointer: str, depth: int, problems: list[Problem], budget: list[int]
) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBigError(
            Problem("", f"the document has more than {MAX_NODES} values (expected fewer)")
        )
    if depth > MAX_DEPTH:
        raise _TooBigError(
            Problem(pointer, f"nested deeper than {MAX_DEPTH} levels (expected fewer)")
        )
    if isinstance(node, dict):
        problems.extend(
            Problem(
                jsonpointer.join(pointer, key), f'duplicate key "{key}" (each key may appear once)'
            )
            for key in getattr(node, "duplicates", ())
        )
        for key, value in node.items():
            if type(key) is not str:
                problems.append(
                    Problem(
                        pointer, f"object key {key!r} is a {type_name(key)} (expected a string)"
                    )
                )
                continue
            _walk(value, jsonpointer.join(pointer, key), depth + 1, problems, budget)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, jsonpointer.join(pointer, index), depth + 1, problems, budget)
    elif is_number(node) and not is_safe_number(node):
        problems.append(
            Problem(
                pointer,
                f"number {render(node, 30)} is out of range "
                f"(expected a finite number between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER})",
            )
        )
    elif not (node is None or type(node) in (bool, str, int, float)):
        problems.append(
            Problem(
                pointer,
                f"found a {type_name(node)} (expected a JSON value; quote it to make a string)",
            )
        )

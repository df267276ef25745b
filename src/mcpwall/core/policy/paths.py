"""Condition paths: ``args.spec.containers.0.image`` → the value inside a call's arguments.

A path starts at ``args.`` and walks objects by key and arrays by decimal index. Keys that
contain a dot can't be named (the dot always separates). A path that leads nowhere resolves
to :data:`MISSING`, which every operator but ``exists: false`` treats as "does not hold".
"""

from __future__ import annotations

import enum
from collections.abc import Callable

PREFIX = "args."


class Missing(enum.Enum):
    """The type of :data:`MISSING`."""

    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing.MISSING
"""What a path resolves to when nothing is there (distinct from JSON ``null``)."""

Resolver = Callable[[object], object]


def parse_path(text: str) -> tuple[str, ...]:
    """Split ``args.a.b`` into ``("a", "b")``; ``ValueError`` explains a malformed path."""
    if not text.startswith(PREFIX):
        raise ValueError(f'path "{text}" must start with "args." (e.g. "args.namespace")')
    segments = tuple(text[len(PREFIX) :].split("."))
    if any(segment == "" for segment in segments):
        raise ValueError(f'path "{text}" has an empty segment (two dots, or a dot at the end)')
    return segments


def _array_index(segment: str) -> int | None:
    """The array index a segment names: decimal, no sign, no leading zero."""
    if segment.isdecimal() and segment.isascii() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return None


def make_resolver(segments: tuple[str, ...]) -> Resolver:
    """A function from a call's arguments to the value at ``segments``, or :data:`MISSING`."""
    if len(segments) == 1:
        key = segments[0]

        def resolve_top_level(args: object) -> object:
            # One segment is by far the common case (args.namespace): keep it to one lookup.
            return args.get(key, MISSING) if isinstance(args, dict) else MISSING

        return resolve_top_level

    steps = tuple((segment, _array_index(segment)) for segment in segments)

    def resolve(args: object) -> object:
        node = args
        for key, index in steps:
            if isinstance(node, dict):
                node = node.get(key, MISSING)
                if node is MISSING:
                    return MISSING
            elif isinstance(node, list) and index is not None and index < len(node):
                node = node[index]
            else:
                return MISSING
        return node

    return resolve

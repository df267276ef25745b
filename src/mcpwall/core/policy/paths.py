"""Condition paths: ``args.spec.containers.0.image`` → the value inside a call's arguments.

A path starts at ``args.`` and walks objects by key and arrays by decimal index. Keys that
contain a dot can't be named (the dot always separates). A path that leads nowhere resolves
to :data:`MISSING`, which every operator but ``exists: false`` treats as "does not hold".

Two extensions look inside arguments (DESIGN §3, "Looking inside arguments"); a path that uses
neither resolves exactly as above, through the same one-lookup-per-segment function:

- ``*`` as a whole segment stands for every element of an array or every member value of an
  object. The path then finds :class:`Each`: one result per element, each resolved with the rest
  of the path (so nested ``*`` give nested :class:`Each`).
- ``|decoder`` after a segment reads the string there as JSON, YAML, a YAML stream or shell
  words (:mod:`~mcpwall.core.policy.decoders`). A value that can't be read raises
  :class:`UnreadableArgument`; a decoder on a missing value is simply missing. Each string is
  decoded once per call, however many conditions read it: see :class:`Decoded`.

Since ``*`` and ``|`` now mean something, keys containing them can't be named either.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from mcpwall.core.errors import UnreadableArgument, UnreadableValue
from mcpwall.core.policy.decoders import DECODERS, Decoder
from mcpwall.core.suggest import did_you_mean, expected_one_of

PREFIX = "args."
STAR = "*"
DECODER_MARK = "|"


class Missing(enum.Enum):
    """The type of :data:`MISSING`."""

    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing.MISSING
"""What a path resolves to when nothing is there (distinct from JSON ``null``)."""


@dataclass(frozen=True, slots=True)
class Each:
    """What a path found at a ``*``: one result per element, in order (values, MISSING, Each)."""

    items: tuple[object, ...]


Resolver = Callable[[object], object]
Predicate = Callable[[object], bool]


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a path: a key (an array index when decimal) or ``*``, then maybe a decoder.

    ``argument`` names what the segment reads, as the policy writes it (``manifest``,
    ``files.*``): a decoding failure says which argument could not be read.
    """

    key: str
    argument: str
    decoder: Decoder | None = None


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed condition path."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(segment.key for segment in self.segments)

    @property
    def has_star(self) -> bool:
        return any(segment.key == STAR for segment in self.segments)

    @property
    def decoders(self) -> tuple[Decoder, ...]:
        return tuple(s.decoder for s in self.segments if s.decoder is not None)

    @property
    def looks_inside(self) -> bool:
        """Whether the path uses ``*`` or a decoder (DESIGN §3, "Looking inside arguments")."""
        return self.has_star or bool(self.decoders)


class PathError(ValueError):
    """A malformed path; the message says what is wrong and, where it can, what was meant."""


def parse_path(text: str) -> Path:
    """Parse ``args.a.b``, ``args.items.*.name``, ``args.manifest|yaml_all.*.kind``…

    Raises :class:`PathError` explaining a malformed path.
    """
    if text.startswith("args" + DECODER_MARK):
        raise PathError(
            f'path "{text}" decodes the arguments object itself; a decoder follows an argument '
            '(e.g. "args.manifest|yaml")'
        )
    if not text.startswith(PREFIX):
        raise PathError(f'path "{text}" must start with "args." (e.g. "args.namespace")')
    parts = text[len(PREFIX) :].split(".")
    if any(part == "" or part.startswith(DECODER_MARK) for part in parts):
        raise PathError(f'path "{text}" has an empty segment (two dots, or a dot at the end)')
    segments: list[Segment] = []
    for position, part in enumerate(parts):
        key, _, decoder_name = part.partition(DECODER_MARK)
        if STAR in key and key != STAR:
            raise PathError(
                f'path "{text}": "*" must be a whole segment, found "{key}" '
                f'(keys containing "*" cannot be named{_star_meant(parts, position)})'
            )
        argument = ".".join([*parts[:position], key])
        decoder = _decoder(text, decoder_name) if DECODER_MARK in part else None
        segments.append(Segment(key, argument, decoder))
    path = Path(text, tuple(segments))
    _check_shape(path)
    return path


def _star_meant(parts: list[str], position: int) -> str:
    """``; did you mean "args.containers.*.image"?`` for ``containers*``, when that is clear."""
    key, mark, decoder = parts[position].partition(DECODER_MARK)
    bare = key.strip(STAR)
    if STAR in bare:
        return ""
    if not bare:
        pieces = [STAR]
    elif key.startswith(STAR):
        pieces = [STAR, bare]
    else:
        pieces = [bare, STAR]
    pieces[-1] += mark + decoder
    fixed = ".".join([*parts[:position], *pieces, *parts[position + 1 :]])
    return f'; did you mean "{PREFIX}{fixed}"?'


def _decoder(text: str, name: str) -> Decoder:
    if DECODER_MARK in name:
        raise PathError(f'path "{text}" has two decoders in one segment (expected at most one)')
    decoder = DECODERS.get(name)
    if decoder is None:
        found = f'unknown decoder "{name}"' if name else 'nothing after "|"'
        raise PathError(
            f'path "{text}": {found} ({expected_one_of(DECODERS)}{did_you_mean(name, DECODERS)})'
        )
    return decoder


def _check_shape(path: Path) -> None:
    """Refuse segments that can never find anything after what a decoder yields.

    ``|yaml_all`` and ``|shell`` yield arrays, which only ``*`` or an index can walk (``kind``
    right after ``|yaml_all`` would always be missing: the author meant ``*.kind``); a shell word
    is a string, which only a decoder can look into.
    """
    segments = path.segments
    for position, segment in enumerate(segments[:-1]):
        after = segments[position + 1]
        if segment.decoder is not None and segment.decoder.yields != "any":
            if after.key != STAR and _array_index(after.key) is None:
                fixed = path.text.replace(
                    f"{DECODER_MARK}{segment.decoder.name}.{after.key}",
                    f"{DECODER_MARK}{segment.decoder.name}.*.{after.key}",
                    1,
                )
                raise PathError(
                    f'path "{path.text}": {DECODER_MARK}{segment.decoder.name} yields an array, '
                    f'which "{after.key}" cannot walk (expected "*" or an index; '
                    f'did you mean "{fixed}"?)'
                )
            if segment.decoder.yields == "strings" and after.decoder is None:
                beyond = segments[position + 2 : position + 3]
                if beyond:
                    raise PathError(
                        f'path "{path.text}": a shell word is a string, which "{beyond[0].key}" '
                        "cannot walk (expected the path to end at the word, or a decoder on it)"
                    )


def _array_index(segment: str) -> int | None:
    """The array index a segment names: decimal, no sign, no leading zero."""
    if segment.isdecimal() and segment.isascii() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return None


def make_resolver(segments: tuple[str, ...]) -> Resolver:
    """A function from a call's arguments to the value at ``segments``, or :data:`MISSING`.

    For paths without ``*`` or decoders; see :func:`make_finder` for the others.
    """
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


# -- looking inside: * and decoders ---------------------------------------------------------------


class Decoded:
    """The strings decoded during one call, so each is decoded once per decoder.

    Keyed by the decoder and the text itself: two conditions reading ``args.manifest|yaml_all``
    share one decoding, and so does a failure (re-raised naming each condition's own argument).
    """

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done: dict[tuple[str, str], object] = {}

    def decode(self, segment: Segment, value: object) -> object:
        decoder = segment.decoder
        assert decoder is not None
        key = (decoder.name, value) if type(value) is str else None
        done = self._done.get(key, _NOT_YET) if key is not None else _NOT_YET
        if done is _NOT_YET:
            try:
                done = decoder.decode(value)
            except UnreadableValue as exc:
                done = exc
            if key is not None:
                self._done[key] = done
        if isinstance(done, UnreadableValue):
            raise UnreadableArgument(segment.argument, decoder.reads_as, done.reason)
        return done


_NOT_YET = object()

Finder = Callable[[object, Decoded], object]


def make_finder(path: Path) -> Finder:
    """A function from a call's arguments (and the call's :class:`Decoded`) to what the path finds.

    That is a value, :data:`MISSING`, or :class:`Each` where the path has ``*``. Raises
    :class:`UnreadableArgument` when a decoder meets a value it cannot read.
    """
    segments = path.segments

    def find(args: object, decoded: Decoded) -> object:
        return _find(args, segments, 0, decoded)

    return find


def _find(node: object, segments: tuple[Segment, ...], start: int, decoded: Decoded) -> object:
    for position in range(start, len(segments)):
        segment = segments[position]
        if segment.key == STAR:
            if isinstance(node, list):
                children: list[object] = node
            elif isinstance(node, dict):
                children = list(node.values())
            else:
                return MISSING
            return Each(
                tuple(
                    _find(
                        decoded.decode(segment, child) if segment.decoder else child,
                        segments,
                        position + 1,
                        decoded,
                    )
                    for child in children
                )
            )
        node = _step(node, segment.key)
        if node is MISSING:
            return MISSING
        if segment.decoder is not None:
            node = decoded.decode(segment, node)
    return node


def _step(node: object, key: str) -> object:
    if isinstance(node, dict):
        return node.get(key, MISSING)
    index = _array_index(key)
    if isinstance(node, list) and index is not None and index < len(node):
        return node[index]
    return MISSING


def matching(predicate: Predicate, every: bool) -> Predicate:
    """``predicate`` applied to what a path with ``*`` found (DESIGN §3, "How many must hold").

    With ``every`` ("all") it holds when there is at least one element and it holds for each;
    otherwise ("any") when it holds for one. No elements at all: the predicate decides on
    :data:`MISSING`, as for a missing path. Nested ``*`` apply the same rule at each level.
    """

    def holds(found: object) -> bool:
        if type(found) is not Each:
            return predicate(found)
        if not found.items:
            return predicate(MISSING)
        if every:
            return all(holds(item) for item in found.items)
        return any(holds(item) for item in found.items)

    return holds

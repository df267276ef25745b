"""The shape of a JSON text read from its bytes alone, before it is parsed: how many arrays and
objects it has, and how deep they nest.

Parsing allocates every array and object, and a Python walk over the parsed value costs a
function call per container: a 4 MiB body of a million one-element arrays took about 0.5 s of
the event loop that way, six times an ordinary body of the same size. Here the text is reduced
to its *structure* — its brackets outside strings, in order — by byte operations that run at
C speed (``replace``, ``translate``, ``split``, ``count``), and the depth is the highest running
sum of that sequence, taken in one pass by ``itertools`` without a Python step per bracket. So
a body is measured in time proportional to its length whatever its shape, and one with too
many containers can be refused before anything is allocated for them.

The structure is exact for valid JSON: outside strings, the only bytes are brackets, quotes,
scalars, whitespace, ``,`` and ``:``; inside, a backslash always starts an escape. For a text
that is not JSON the figures may be wrong, which is harmless: such a text is refused anyway,
for a figure over its limit or by the parser.
"""

from __future__ import annotations

from array import array
from itertools import accumulate
from typing import Final

# Every byte but the quote and the four brackets, for bytes.translate to delete.
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'"[]{}')
# An opening bracket steps one level down, a closing one back up (as signed bytes: +1, -1).
_STEPS: Final = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def structure(text: bytes) -> bytes:
    """The brackets of ``text`` that lie outside its strings, in order.

    Escapes go first, so that every quote left delimits a string: ``\\\\`` pairs, then ``\\"``
    (removing the pairs from the left is how a JSON reader pairs them). Then all but quotes and
    brackets go, and so do the quote pairs with nothing between them (a string without brackets,
    or the end of one string and the start of the next, which merges the two): what is left
    between quotes is the brackets that strings hold, dropped last.
    """
    if b"\\" in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    bones = text.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in bones:
        bones = b"".join(bones.split(b'"')[::2])
    return bones


def containers(brackets: bytes) -> int:
    """How many arrays and objects a :func:`structure` opens."""
    return brackets.count(b"[") + brackets.count(b"{")


def depth(brackets: bytes) -> int:
    """How deep the deepest array or object of a :func:`structure` lies (the outermost at 1;
    0 when there is none)."""
    return max(accumulate(array("b", brackets.translate(_STEPS))), default=0)

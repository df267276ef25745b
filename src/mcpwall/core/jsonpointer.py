"""RFC 6901 JSON pointers: how every rule and every validation problem names its place."""

from __future__ import annotations


def escape(token: str | int) -> str:
    """Escape one reference token: ``~`` becomes ``~0`` and ``/`` becomes ``~1``."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join(pointer: str, *tokens: str | int) -> str:
    """Extend ``pointer`` by one or more reference tokens."""
    return pointer + "".join("/" + escape(token) for token in tokens)


def unescape(token: str) -> str:
    """Undo :func:`escape` (order matters: ``~1`` first, then ``~0``)."""
    return token.replace("~1", "/").replace("~0", "~")


def split(pointer: str) -> list[str]:
    """Split a pointer into its unescaped reference tokens; ``""`` (the root) has none."""
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/', found {pointer!r}")
    return [unescape(token) for token in pointer[1:].split("/")]


def resolve(document: object, pointer: str) -> object:
    """The value ``pointer`` refers to in ``document``; ``KeyError`` if there is none."""
    node = document
    for token in split(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdecimal() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise KeyError(pointer)
    return node

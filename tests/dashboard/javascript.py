"""What a JavaScript file could fetch when a browser loads it, found without running it.

htmx's sources carry URLs in comments (``@see https://htmx.org/...``) and the SSE extension
has JSDoc types written ``{import("../htmx").HtmxInternalApi}``: neither loads anything. So a
plain text search would be wrong both ways, and :func:`split` first cuts the source into
comments, string and template literals, regular-expression literals and the remaining code,
the way a JavaScript lexer does (regex-or-division decided by the token before the slash).
It raises ValueError on anything it cannot close (a string, comment, template or regex), so a
file it misreads fails loudly instead of passing.

:func:`external_references` then reports, outside comments:

- module loading in code: ``import`` (static or dynamic), ``importScripts(``, ``require(``;
- a URL with a scheme (``https://``, ``wss://``, ``data:`` is not one: it loads nothing) or a
  protocol-relative ``//host`` inside any literal;

and, in comments too, a ``sourceMappingURL``/``sourceURL`` directive (the one kind of comment
a browser acts on: its developer tools fetch the map).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["code", "comment", "string", "template", "regex"]

# After these a slash starts a regular expression, not a division.
_REGEX_AFTER_WORDS: Final = frozenset(
    {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case"}
    | {"do", "else", "yield", "await"}
)
_WORD_CHAR = re.compile(r"[\w$]")
_LITERAL: Final = "a literal"
_LAST_WORD = re.compile(r"[\w$]+$")

_MODULE_LOAD = re.compile(r"(?<![\w$.])(?:import\b|importScripts\s*\(|require\s*\()")
_SCHEME_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://")
_PROTOCOL_RELATIVE = re.compile(r"^\s*//[\w\[]")
_SOURCE_MAP = re.compile(r"^[#@]\s*source(?:Mapping)?URL\s*=", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Piece:
    kind: Kind
    text: str


def split(source: str) -> list[Piece]:
    """``source`` as consecutive pieces; joined, their texts give ``source`` back."""
    return _Lexer(source).run()


def external_references(source: str) -> list[str]:
    """Every construct in ``source`` that could make the browser fetch something, described;
    empty when there is none."""
    found: list[str] = []
    for piece in split(source):
        if piece.kind == "comment":
            body = piece.text[2:]
            if _SOURCE_MAP.match(body.lstrip()):
                found.append(f"source map directive: {piece.text.strip()!r}")
        elif piece.kind == "code":
            found += [f"module loading: {m.group()!r}" for m in _MODULE_LOAD.finditer(piece.text)]
        else:
            literal = piece.text
            found += [f"URL in a {piece.kind}: {literal!r}" for _ in _SCHEME_URL.finditer(literal)]
            if piece.kind in ("string", "template") and _PROTOCOL_RELATIVE.match(literal[1:]):
                found.append(f"protocol-relative URL in a {piece.kind}: {literal!r}")
    return found


class _Lexer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pieces: list[Piece] = []
        self.code: list[str] = []  # the current run of code
        # The last token before here, for the regex-or-division decision: "" at the start, a
        # word, one punctuation character, or LITERAL.
        self.before = ""
        # One entry per open template literal whose ${ … } we are inside: the brace depth
        # at which its closing } returns to the template.
        self.templates: list[int] = []
        self.depth = 0

    def run(self) -> list[Piece]:
        source, i = self.source, 0
        while i < len(source):
            char, after = source[i], source[i + 1 : i + 2]
            if char == "/" and after == "/":
                end = source.find("\n", i)
                i = self._emit("comment", i, len(source) if end < 0 else end)
            elif char == "/" and after == "*":
                end = source.find("*/", i + 2)
                if end < 0:
                    raise ValueError(f"unterminated comment at {i}")
                i = self._emit("comment", i, end + 2)
            elif char in "'\"":
                i = self._emit("string", i, self._string_end(i, char))
            elif char == "`":
                i = self._template(i)
            elif char == "/" and self._regex_allowed():
                i = self._emit("regex", i, self._regex_end(i))
            elif char == "}" and self.templates and self.depth == self.templates[-1]:
                self.templates.pop()
                i = self._template(i)
            else:
                if char == "{":
                    self.depth += 1
                elif char == "}":
                    self.depth -= 1
                self.code.append(char)
                i += 1
        if self.templates:
            raise ValueError("unterminated template literal substitution")
        self._flush()
        return self.pieces

    def _emit(self, kind: Kind, start: int, end: int) -> int:
        self._flush()
        text = self.source[start:end]
        self.pieces.append(Piece(kind, text))
        if kind == "template" and text.endswith("${"):
            self.before = "{"  # an expression starts
        elif kind != "comment":
            self.before = _LITERAL
        return end

    def _flush(self) -> None:
        if self.code:
            text = "".join(self.code)
            self.pieces.append(Piece("code", text))
            self.code = []
            significant = text.rstrip()
            if significant:
                word = _LAST_WORD.search(significant)
                self.before = word.group() if word else significant[-1]

    def _string_end(self, start: int, quote: str) -> int:
        i = start + 1
        while i < len(self.source):
            char = self.source[i]
            if char == "\\":
                i += 2
            elif char == quote:
                return i + 1
            elif char == "\n":
                break
            else:
                i += 1
        raise ValueError(f"unterminated string at {start}")

    def _template(self, start: int) -> int:
        """From a backtick (or the } closing a substitution) to the next backtick or ${."""
        i = start + 1
        while i < len(self.source):
            char = self.source[i]
            if char == "\\":
                i += 2
            elif char == "`":
                return self._emit("template", start, i + 1)
            elif char == "$" and self.source[i + 1 : i + 2] == "{":
                self.templates.append(self.depth)
                return self._emit("template", start, i + 2)
            else:
                i += 1
        raise ValueError(f"unterminated template literal at {start}")

    def _regex_allowed(self) -> bool:
        self._flush()
        before = self.before
        if before == _LITERAL or before in (")", "]", "}"):
            return False
        if _WORD_CHAR.match(before):
            return before in _REGEX_AFTER_WORDS
        return True  # the start, or an operator or opening punctuation

    def _regex_end(self, start: int) -> int:
        i, in_class = start + 1, False
        while i < len(self.source):
            char = self.source[i]
            if char == "\\":
                i += 2
                continue
            if char == "\n":
                break
            if char == "[":
                in_class = True
            elif char == "]":
                in_class = False
            elif char == "/" and not in_class:
                i += 1
                while i < len(self.source) and _WORD_CHAR.match(self.source[i]):
                    i += 1  # flags
                return i
            i += 1
        raise ValueError(f"unterminated regular expression at {start}")

"""Shell command text → its words, for ``|shell``: one simple command of literal words.

The text is split as POSIX ``sh`` splits a command line (XCU §2.2 quoting, §2.3 token
recognition): blanks separate words; single quotes keep everything literal; inside double quotes
a backslash escapes only ``$``, a backtick, ``"`` and ``\\``; outside quotes a backslash escapes
the next character. Quotes and escapes are removed from the words.

Whatever a shell would *interpret* instead of passing on literally is refused, since whether the
server runs the text through a shell is its own business and ``$(rm …)`` must not hide inside a
word: operators (``; | & < > ( )``), expansions (``$`` and backticks, quoted or not), unquoted
glob characters (``* ? [``) and braces (bash expands ``{a,b}``), a ``~`` where it would expand,
a comment, a newline, a leading ``NAME=value`` (an assignment, not the command), an unquoted
reserved word where the command should be (``! rm x`` runs ``rm`` and negates its status),
control characters, whitespace other than space and tab outside quotes, unbalanced quotes.

``shlex`` in POSIX mode is close but not this: it ends a word at a ``#`` inside it (``a#b`` gives
``a``), keeps the backslash of ``"\\$"``, and refuses nothing (``a;b`` is one word to it, two
commands to sh). ``tests/core/policy/test_decoders.py`` shows each difference.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NoReturn

from mcpwall.core.errors import UnreadableValue

MAX_WORDS = 10_000
# Pieces: quoted strings, runs of escapes or of plain characters. Each is a step of Python, and
# a megabyte of 'a'b'c… is a quarter of a million of them: the bound keeps any text to a few
# tens of milliseconds; no command line anyone writes comes near it.
MAX_PIECES = 100_000

OPERATORS = frozenset(";|&<>()")
EXPANSIONS = frozenset("$`")
GLOBS = frozenset("*?[")
BRACES = frozenset("{}")
BLANKS = frozenset(" \t")
# Inside double quotes a backslash escapes these and stays literal before anything else.
DOUBLE_QUOTE_ESCAPES = frozenset('$`"\\')

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# XCU §2.4: recognised only unquoted, where a command's first word would be. "{" and "}" are
# refused anywhere as braces; the others turn the words into something other than one command.
RESERVED_WORDS = frozenset(
    {"!", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then"}
    | {"until", "while"}
)


def split_words(text: str) -> list[str]:
    """The words of ``text``, or :class:`UnreadableValue` saying what a shell would interpret."""
    _check_characters(text)
    return _Splitter(text).words()


def _check_characters(text: str) -> None:
    found = _CONTROL.search(text)  # one pass in C: a character loop took 80 ms over a megabyte
    if found is None:
        return
    char, index = found.group(), found.start()
    if char in "\n\r":
        raise UnreadableValue(f"a line break at character {index + 1}")
    raise UnreadableValue(f"a control character (U+{ord(char):04X}) at character {index + 1}")


# Runs of characters taken in one step, for speed (a character at a time took 0.4 s for a
# megabyte): outside quotes, all but blanks and whitespace (\s covers categories Zs, Zl and Zp),
# quotes, the backslash, what is refused anywhere, and a "~" after "=" or ":" (literal_run keeps
# a word from starting with "#" or "~"); inside double quotes, all but the closing quote and the
# expansions, a backslash and what follows it included; pairs of a backslash and the character it
# escapes outside quotes; blanks.
_BLANKS = re.compile("[ \t]+")
_LITERAL_RUN = re.compile(r"(?:[^\s'\"\\;|&<>()$`*?\[{}~]+|(?<![=:])~)+")
_DOUBLE_QUOTED_RUN = re.compile(r'(?:[^"\\$`]+|\\[^\n])+')
_DOUBLE_QUOTE_ESCAPE = re.compile(r'\\([$`"\\])')  # the backslash goes; before others it stays
_ESCAPES = re.compile(r"(?:\\.)+", re.DOTALL)
# Unicode's control characters (category Cc) are exactly these; tab is a blank.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class _Splitter:
    """One left-to-right pass over the text, building the current word."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.found: list[str] = []
        self.word: list[str] | None = None  # None between words
        self.word_start = 0
        self.pieces = 0

    def words(self) -> list[str]:
        while self.index < len(self.text):
            char = self.text[self.index]
            self.count_piece()
            if char in BLANKS:
                self.end_word()
                blanks = _BLANKS.match(self.text, self.index)
                assert blanks is not None  # it begins with char
                self.index = blanks.end()
                continue
            if self.word is None:
                self.start_word()
            if char == "'":
                self.single_quoted()
            elif char == '"':
                self.double_quoted()
            elif char == "\\":
                self.escaped()
            elif not self.literal_run():
                self.plain(char)
        self.end_word()
        return self.found

    def literal_run(self) -> bool:
        """Take the literal characters from here in one step; False when there are none."""
        if not self.word and self.text[self.index] in "#~":
            return False  # at a word's start: a comment, or a "~" to expand (see plain)
        run = _LITERAL_RUN.match(self.text, self.index)
        if run is None:
            return False
        self.add(run.group())
        self.index = run.end()
        return True

    def count_piece(self) -> None:
        self.pieces += 1
        if self.pieces > MAX_PIECES:
            raise UnreadableValue(f"more than {MAX_PIECES:,} quoted, escaped or plain pieces")

    def refuse(self, what: str) -> NoReturn:
        raise UnreadableValue(f"{what} at character {self.index + 1}")

    def start_word(self) -> None:
        self.word = []
        self.word_start = self.index
        if not self.found and _ASSIGNMENT.match(self.text, self.index):
            self.refuse("an assignment (NAME=value) where the command should be")

    def end_word(self) -> None:
        if self.word is not None:
            if len(self.found) == MAX_WORDS:
                raise UnreadableValue(f"more than {MAX_WORDS:,} words")
            word = "".join(self.word)
            if not self.found and word in RESERVED_WORDS and self.unquoted(word):
                self.index = self.word_start
                self.refuse(f'a reserved word "{word}" where the command should be')
            self.found.append(word)
            self.word = None

    def unquoted(self, word: str) -> bool:
        """Whether the current word was written as is: quoting a reserved word makes it plain."""
        return self.text[self.word_start : self.index] == word

    def add(self, text: str) -> None:
        assert self.word is not None
        self.word.append(text)

    def single_quoted(self) -> None:
        end = self.text.find("'", self.index + 1)
        if end < 0:
            self.refuse("an unbalanced single quote")
        self.add(self.text[self.index + 1 : end])
        self.index = end + 1

    def double_quoted(self) -> None:
        opened = self.index
        self.index += 1
        while self.index < len(self.text):
            self.count_piece()
            run = _DOUBLE_QUOTED_RUN.match(self.text, self.index)
            if run is not None:
                # Split on each escape, keeping the escaped character: as sub(r"\1"), 6× faster.
                self.add("".join(_DOUBLE_QUOTE_ESCAPE.split(run.group())))
                self.index = run.end()
                continue
            char = self.text[self.index]
            if char == '"':
                self.index += 1
                return
            if char in EXPANSIONS:
                self.refuse(f'an expansion "{char}" inside double quotes')
            if char == "\\" and self.text[self.index + 1 : self.index + 2] in DOUBLE_QUOTE_ESCAPES:
                self.index += 1
                char = self.text[self.index]
            self.add(char)
            self.index += 1
        self.index = opened
        self.refuse("an unbalanced double quote")

    def escaped(self) -> None:
        if self.index + 1 == len(self.text):
            self.refuse("a backslash at the end")
        run = _ESCAPES.match(self.text, self.index)  # "\a\b…": one step takes every pair
        assert run is not None
        self.add(run.group()[1::2])
        self.index = run.end()

    def plain(self, char: str) -> None:
        assert self.word is not None
        if char in OPERATORS:
            self.refuse(f'an operator "{char}"')
        if char in EXPANSIONS:
            self.refuse(f'an expansion "{char}"')
        if char in GLOBS or char in BRACES:
            self.refuse(f'an unquoted "{char}" (a shell would expand it; quote it)')
        if char == "#" and not self.word:
            self.refuse('a comment "#"')
        previous = self.text[self.index - 1] if self.index else ""
        if char == "~" and (not self.word or previous in ("=", ":")):
            self.refuse('a "~" a shell would expand (quote it)')
        if unicodedata.category(char) in ("Zs", "Zl", "Zp"):
            self.refuse(f"whitespace other than space or tab (U+{ord(char):04X}) outside quotes")
        self.add(char)
        self.index += 1

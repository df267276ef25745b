"""Request bodies: strict JSON, read field by field, every mistake reported at once.

JSON is parsed as strictly as the gateway parses messages (:mod:`mcpwall.core.strictjson`):
no duplicate keys, lone surrogates or ``NaN``, so a body has exactly one meaning. A
:class:`Fields` reader takes the members of the body's object one by one; each reader notes
a problem instead of raising, and :meth:`Fields.close` raises one :class:`BodyError` listing
them all, unknown members included (a misspelt ``expires_in`` silently ignored would issue a
grant that never expires).
"""

from __future__ import annotations

from typing import TypeVar

from mcpwall.admin.errors import BodyError, MalformedBodyError
from mcpwall.core import jsonpointer, strictjson
from mcpwall.core.errors import InvalidRequest, ParseError, Problem
from mcpwall.core.jsonvalue import render, type_name

K = TypeVar("K", str, int)


def parse_json(body: bytes) -> object:
    """The JSON value of ``body``; :class:`MalformedBodyError` if it is not exactly one."""
    try:
        return strictjson.loads(body)
    except (ParseError, InvalidRequest) as exc:
        raise MalformedBodyError([Problem("", str(exc))]) from None


class Fields:
    """The members of the JSON object in a request body, read one at a time."""

    def __init__(self, value: object) -> None:
        self.problems: list[Problem] = []
        self._members: dict[str, object] = {}
        self._read: set[str] = set()
        if isinstance(value, dict):
            self._members = value
        else:
            self.problems.append(Problem("", f"expected a JSON object, found {_shown(value)}"))

    @classmethod
    def parse(cls, body: bytes) -> Fields:
        return cls(parse_json(body))

    def close(self) -> None:
        """Raise :class:`BodyError` with every problem found, unknown members included."""
        for key in sorted(self._members.keys() - self._read):
            expected = ", ".join(sorted(self._read)) or "none"
            message = f'unknown field "{key}" (expected one of: {expected})'
            self.problems.append(Problem(jsonpointer.join("", key), message))
        if self.problems:
            raise BodyError(sorted(self.problems, key=lambda p: p.pointer))

    # -- readers ----------------------------------------------------------------------------------

    def text(self, key: str) -> str:
        """A required string."""
        value = self._get(key)
        if value is _ABSENT:
            self._missing(key)
        elif isinstance(value, str):
            return value
        else:
            self._wrong(key, value, "a string")
        return ""

    def optional_text(self, key: str) -> str | None:
        """A string, or None when absent or null."""
        value = self._get(key)
        if value is _ABSENT or value is None:
            return None
        if isinstance(value, str):
            return value
        self._wrong(key, value, "a string or null")
        return None

    def texts(self, key: str) -> tuple[str, ...]:
        """An array of strings; empty when absent."""
        value = self._get(key)
        if value is _ABSENT:
            return ()
        if not isinstance(value, list):
            self._wrong(key, value, "an array of strings")
            return ()
        return tuple(self._strings(key, dict(enumerate(value)), secret=False).values())

    def text_map(self, key: str, *, secret: bool = False) -> dict[str, str]:
        """An object whose values are strings; empty when absent.

        With ``secret``, a problem never shows a value (it may be a credential).
        """
        value = self._get(key)
        if value is _ABSENT:
            return {}
        if not isinstance(value, dict):
            self._wrong(key, value, "an object of strings", secret=secret)
            return {}
        return self._strings(key, value, secret=secret)

    def choice(self, key: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        """One of ``choices``, or None when absent (a problem too, if ``required``)."""
        value = self._get(key)
        if value is _ABSENT:
            if required:
                self._missing(key)
            return None
        if isinstance(value, str) and value in choices:
            return value
        self._wrong(key, value, "one of " + ", ".join(choices))
        return None

    def flag(self, key: str) -> bool:
        """A boolean; False when absent."""
        value = self._get(key)
        if value is _ABSENT:
            return False
        if isinstance(value, bool):
            return value
        self._wrong(key, value, "true or false")
        return False

    def whole_number(self, key: str, low: int, high: int) -> int | None:
        """A whole number from ``low`` to ``high``, or None when absent or null."""
        value = self._get(key)
        if value is _ABSENT or value is None:
            return None
        # JSON has one number type: 30 and 30.0 are the same number, as JSON Schema's "integer"
        # says. Booleans are not numbers.
        number = int(value) if isinstance(value, float) and value.is_integer() else value
        if type(number) is int and low <= number <= high:
            return number
        self._wrong(key, value, f"a whole number from {low} to {high}, or null")
        return None

    # -- plumbing ---------------------------------------------------------------------------------

    def _get(self, key: str) -> object:
        self._read.add(key)
        return self._members.get(key, _ABSENT)

    def _strings(self, key: str, items: dict[K, object], *, secret: bool) -> dict[K, str]:
        good: dict[K, str] = {}
        for name, value in items.items():
            if isinstance(value, str):
                good[name] = value
            else:
                pointer = jsonpointer.join("", key, name)
                self._problem(pointer, value, "a string", secret=secret)
        return good

    def _missing(self, key: str) -> None:
        self.problems.append(Problem(jsonpointer.join("", key), "required field is missing"))

    def _wrong(self, key: str, value: object, expected: str, *, secret: bool = False) -> None:
        self._problem(jsonpointer.join("", key), value, expected, secret=secret)

    def _problem(self, pointer: str, value: object, expected: str, *, secret: bool) -> None:
        found = type_name(value) if secret else _shown(value)
        self.problems.append(Problem(pointer, f"expected {expected}, found {found}"))


_ABSENT = object()


def _shown(value: object) -> str:
    return f"{type_name(value)} {render(value)}"

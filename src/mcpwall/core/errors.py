"""The exceptions mcpwall raises, one small documented tree.

::

    MCPWallError            base of everything mcpwall raises on purpose
     ├─ DocumentError       a document that can't be read or is invalid; ``.problems`` lists
     │   │                  every problem at once, each with its JSON pointer
     │   ├─ PolicyError     … a policy document
     │   └─ CasesError      … a file of golden policy test cases
     ├─ ArgumentsError      call arguments that are not a JSON object
     ├─ InvalidValue        a value a user gave that has the wrong form
     │   ├─ InvalidName     … a name outside ``[a-z0-9][a-z0-9-]{0,62}``
     │   └─ InvalidDuration … a duration that is not like ``30d``, ``12h``, ``90m``
     └─ StoreError          the registry of upstreams, policies and grants refused something
         ├─ NotFound        … the named object does not exist
         ├─ Conflict        … the change collides with existing state (a duplicate label, say)
         ├─ StoreUnavailable … the database could not be reached or used
         └─ SecretKeyError  … the key for secrets at rest is malformed or not the right one

Messages give the location, what was found and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar


class MCPWallError(Exception):
    """Base class of every error mcpwall raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where (an RFC 6901 pointer) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '(root)'}: {self.message}"


class DocumentError(MCPWallError):
    """A document that cannot be parsed, or whose content is invalid.

    Carries every problem found, so a user fixes them all in one pass.
    """

    what: ClassVar[str] = "document"

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: " if source else ""
        noun = "problem" if count == 1 else "problems"
        lines = [f"{head}invalid {self.what} ({count} {noun})", *(str(p) for p in self.problems)]
        super().__init__("\n".join(lines))


class PolicyError(DocumentError):
    """A policy document that cannot be parsed or compiled."""

    what = "policy"


class CasesError(DocumentError):
    """A golden cases file that cannot be parsed or has the wrong shape."""

    what = "cases file"


class ArgumentsError(MCPWallError):
    """Tool-call arguments that are not a JSON object (or not valid JSON at all)."""


def _quote(value: str) -> str:
    """``value`` in double quotes, control characters escaped, as a message shows it."""
    return json.dumps(value, ensure_ascii=False)


# The names below are the ones the design and issues use; an "Error" suffix would add nothing.


class InvalidValue(MCPWallError):  # noqa: N818
    """A value given by a user (a flag, a field) that has the wrong form.

    The message says which value, what it was and what is expected; with ``secret=True`` it
    gives the value's length, never the value.
    """

    def __init__(self, what: str, found: str, expected: str, *, secret: bool = False) -> None:
        self.what = what
        self.found = found
        self.expected = expected
        shown = f"(not shown, {len(found)} characters)" if secret else _quote(found)
        super().__init__(f"{what} {shown}: expected {expected}")


class InvalidName(InvalidValue):
    """A name that is not a valid upstream, policy or label name."""


class InvalidDuration(InvalidValue):
    """A duration that can't be read (expected: ``90s``, ``90m``, ``12h``, ``30d``, ``2w``)."""


class StoreError(MCPWallError):
    """The store refused an operation."""


class NotFound(StoreError):  # noqa: N818
    """The named object does not exist; ``where`` says what referred to it, if anything."""

    def __init__(self, kind: str, key: str, *, where: str = "", hint: str = "") -> None:
        self.kind = kind
        self.key = key
        head = f"{where}: " if where else ""
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{head}{kind} {_quote(key)} not found{tail}")


class Conflict(StoreError):  # noqa: N818
    """The change collides with existing state; the message says what is in the way."""


class StoreUnavailable(StoreError):  # noqa: N818
    """The database could not be reached or used.

    ``url`` is the database URL with any password replaced by ``***``.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"database {url} is unavailable: {reason}")


class SecretKeyError(StoreError):
    """The key for secrets at rest is malformed, or is not the key the stored secrets need."""

"""Names of upstreams and policies, and labels of grants and admin tokens.

One rule for all of them, ``[a-z0-9][a-z0-9-]{0,62}``: a name appears in URLs
(``/mcp/{upstream}``), in tool prefixes (``{upstream}__{tool}``) and on command lines, so it
must need no quoting or escaping anywhere, and fit a DNS label.
"""

from __future__ import annotations

import re

from mcpwall.core.errors import InvalidName

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

NAME_EXPECTED = 'a lowercase letter or digit, then up to 62 lowercase letters, digits or "-"'


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a valid name, else raise :class:`InvalidName` naming ``what``."""
    if NAME_PATTERN.fullmatch(value) is None:
        raise InvalidName(what, value, NAME_EXPECTED)
    return value

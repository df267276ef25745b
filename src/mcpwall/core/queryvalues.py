"""What a query parameter may be, as the admin API and the dashboard both check it.

Pure checks on text from a URL: a whole number in a range (row ids, page sizes), a duration
back from now, a grant reference, a tool name. The OpenAPI document states the same patterns.
"""

from __future__ import annotations

import re

from mcpwall.core.errors import InvalidValue
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.proxylog import MAX_RULE_BYTES

# A duration is held under a hundred years by its digits per unit.
SINCE = re.compile(
    "[1-9][0-9]{0,8}s|[1-9][0-9]{0,6}m|[1-9][0-9]{0,4}h|[1-9][0-9]{0,3}d|[1-9][0-9]{0,2}w"
)
GRANT = re.compile(f"grt_[0-9a-f]{{16}}|{NAME_PATTERN.pattern}")
TOOL = re.compile("[^\x00]{1,256}")
# A rule as the proxy log keeps it: up to MAX_RULE_BYTES bytes, so at most as many characters.
RULE = re.compile(f"[^\x00]{{1,{MAX_RULE_BYTES}}}")
MAX_ROW_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1  # a policy version: the database's integer


def whole_number(text: str, what: str, low: int, high: int) -> int:
    """A path or query parameter that is a whole number from ``low`` to ``high``."""
    digits = text.isascii() and text.isdecimal() and len(text) <= len(str(high))
    if not digits or not low <= int(text) <= high:
        raise InvalidValue(what, text, f"a whole number from {low} to {high}")
    return int(text)

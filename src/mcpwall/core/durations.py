"""Durations as people type them: ``90s``, ``90m``, ``12h``, ``30d``, ``2w``."""

from __future__ import annotations

import re

from mcpwall.core.errors import InvalidDuration

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# A hundred years: longer is a typo, and would overflow ``datetime`` arithmetic soon after.
MAX_SECONDS = 36500 * 86400

_DURATION = re.compile(r"([0-9]{1,12})([smhdw])")

_EXPECTED = "a whole number and one unit of s, m, h, d or w, such as 30d, 12h, 90m or 2w"


def parse_duration(text: str) -> int:
    """Return the number of seconds ``text`` stands for; raise :class:`InvalidDuration` if none.

    The duration must be positive and at most a hundred years.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise InvalidDuration("duration", text, _EXPECTED)
    seconds = int(match[1]) * UNIT_SECONDS[match[2]]
    if seconds == 0:
        raise InvalidDuration("duration", text, "a duration longer than zero")
    if seconds > MAX_SECONDS:
        raise InvalidDuration("duration", text, "at most 100 years (36500d)")
    return seconds

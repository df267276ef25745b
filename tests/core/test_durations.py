"""Durations as people type them."""

from __future__ import annotations

import pytest

from mcpwall.core.durations import parse_duration
from mcpwall.core.errors import InvalidDuration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400),
        ("12h", 12 * 3600),
        ("90m", 90 * 60),
        ("2w", 14 * 86400),
        ("45s", 45),
        ("36500d", 36500 * 86400),
    ],
)
def test_durations_are_read_as_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "30", "d", "30x", "30D", "1.5h", "-1d", " 30d", "30 d", "1d12h", "1e3s", "٣d"]
)
def test_a_malformed_duration_says_what_is_expected(text: str) -> None:
    with pytest.raises(InvalidDuration) as caught:
        parse_duration(text)
    assert str(caught.value).endswith(
        ": expected a whole number and one unit of s, m, h, d or w, such as 30d, 12h, 90m or 2w"
    )


def test_a_duration_must_be_positive() -> None:
    with pytest.raises(InvalidDuration, match=r'^duration "0d": expected a duration longer'):
        parse_duration("0d")


def test_a_duration_is_at_most_a_hundred_years() -> None:
    with pytest.raises(InvalidDuration, match=r"expected at most 100 years \(36500d\)$"):
        parse_duration("5300w")

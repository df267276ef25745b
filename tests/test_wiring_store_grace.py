"""``MCPWALL_STORE_GRACE``: how long cached grants serve while the database is lost."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import InvalidValue
from mcpwall.wiring import store_grace


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(None, 300.0), ("0", 0.0), ("2", 2.0), ("90.5", 90.5), ("86400", 86_400.0)],
)
def test_the_grace_is_read_in_seconds(text: str | None, seconds: float) -> None:
    assert store_grace({} if text is None else {"MCPWALL_STORE_GRACE": text}) == seconds


@pytest.mark.parametrize("text", ["", "-1", "5m", "nan", "inf", "86401"])
def test_a_bad_grace_stops_the_start_naming_the_variable(text: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        store_grace({"MCPWALL_STORE_GRACE": text})
    assert "MCPWALL_STORE_GRACE" in str(refused.value)
    assert "a number of seconds from 0 to 86400" in str(refused.value)

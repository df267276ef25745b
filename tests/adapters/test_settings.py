"""Secret settings from ``X`` or from the file ``X_FILE`` names (``adapters/settings.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcpwall.adapters.settings import MAX_FILE_BYTES, SecretSetting, secret_setting
from mcpwall.core.errors import SettingError

VARIABLE = "MCPWALL_DATABASE_URL"
VALUE = "postgresql://mcpwall:pw-5e1d@db:5432/mcpwall"


def test_the_variable_itself() -> None:
    assert secret_setting({VARIABLE: VALUE}, VARIABLE) == SecretSetting(VALUE, VARIABLE)


def test_neither_set_or_both_empty_is_none() -> None:
    assert secret_setting({}, VARIABLE) is None
    assert secret_setting({VARIABLE: "", f"{VARIABLE}_FILE": ""}, VARIABLE) is None


def test_the_file_its_trailing_line_break_dropped(tmp_path: Path) -> None:
    path = tmp_path / "database-url"
    for ending in ("", "\n", "\r\n", "\n\n"):
        path.write_text(VALUE + ending, encoding="utf-8")
        found = secret_setting({f"{VARIABLE}_FILE": str(path)}, VARIABLE)
        assert found == SecretSetting(VALUE, f"{VARIABLE}_FILE ({path})")


def test_inner_whitespace_and_leading_text_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "value"
    path.write_text(" a b\nc\n", encoding="utf-8")
    found = secret_setting({f"{VARIABLE}_FILE": str(path)}, VARIABLE)
    assert found is not None
    assert found.value == " a b\nc"


def test_both_set_is_refused_naming_both_and_showing_neither(tmp_path: Path) -> None:
    path = tmp_path / "database-url"
    path.write_text(VALUE, encoding="utf-8")
    with pytest.raises(SettingError) as raised:
        secret_setting({VARIABLE: VALUE, f"{VARIABLE}_FILE": str(path)}, VARIABLE)
    message = str(raised.value)
    assert f"{VARIABLE} and {VARIABLE}_FILE are both set" in message
    assert "pw-5e1d" not in message


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent"
    with pytest.raises(SettingError) as raised:
        secret_setting({f"{VARIABLE}_FILE": str(path)}, VARIABLE)
    assert str(raised.value) == (
        f"{VARIABLE}_FILE ({path}): cannot read the file: No such file or directory; "
        "expected a readable UTF-8 file holding the value"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_names_the_path_never_the_content(tmp_path: Path) -> None:
    path = tmp_path / "database-url"
    path.write_text(VALUE, encoding="utf-8")
    path.chmod(0)
    with pytest.raises(SettingError) as raised:
        secret_setting({f"{VARIABLE}_FILE": str(path)}, VARIABLE)
    assert f"({path}): cannot read the file: Permission denied" in str(raised.value)
    assert "pw-5e1d" not in str(raised.value)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="cannot read the file: Is a directory"):
        secret_setting({f"{VARIABLE}_FILE": str(tmp_path)}, VARIABLE)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"\n", "the file is empty"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"x" * (MAX_FILE_BYTES + 1), f"larger than {MAX_FILE_BYTES} bytes"),
    ],
)
def test_an_empty_binary_or_oversized_file_is_refused(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "value"
    path.write_bytes(content)
    with pytest.raises(SettingError) as raised:
        secret_setting({f"{VARIABLE}_FILE": str(path)}, VARIABLE)
    assert str(raised.value).startswith(f"{VARIABLE}_FILE ({path}): {reason}; expected")


def test_the_value_is_not_in_its_repr(tmp_path: Path) -> None:
    assert "pw-5e1d" not in repr(SecretSetting(VALUE, VARIABLE))

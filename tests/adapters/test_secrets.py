"""The key for secrets at rest, and sealing values with it."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mcpwall.adapters.secrets import SecretBox, SecretKey, load_secret_key, new_key_text
from mcpwall.core.errors import SecretKeyError


def test_a_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = load_secret_key(home, environ={})
    path = home / "secret.key"
    assert first.source == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.key) == 32
    assert load_secret_key(home, environ={}) == first
    assert sorted(p.name for p in home.iterdir()) == ["secret.key"]  # no temporary file left


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    text = new_key_text()
    (tmp_path / "secret.key").write_text(text + "\n")
    assert load_secret_key(tmp_path, environ={}).key == load_key_text(text)
    assert (tmp_path / "secret.key").read_text() == text + "\n"


def test_processes_racing_to_create_the_key_file_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: load_secret_key(tmp_path, environ={}), range(32)))
    assert len({key.key for key in keys}) == 1


def test_an_unusable_home_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(
        SecretKeyError, match=r"^secret key file .*/file/secret\.key: File exists; expected"
    ):
        load_secret_key(tmp_path / "file", environ={})
    (tmp_path / "secret.key").write_bytes(b"\xff")
    with pytest.raises(SecretKeyError, match=r"secret\.key: not ASCII text; expected a readable"):
        load_secret_key(tmp_path, environ={})


def test_the_environment_variable_wins_over_the_key_file(tmp_path: Path) -> None:
    text = new_key_text()
    key = load_secret_key(tmp_path, environ={"MCPWALL_SECRET_KEY": text})
    assert (key.key, key.source) == (load_key_text(text), "MCPWALL_SECRET_KEY")
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64!", "not URL-safe base64"),
        ("c2hvcnQ", "5 bytes; expected 32 random bytes in URL-safe base64"),
    ],
)
def test_a_malformed_key_is_refused_without_showing_it(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SecretKeyError, match=message) as caught:
        load_secret_key(tmp_path, environ={"MCPWALL_SECRET_KEY": text})
    assert str(caught.value).startswith("secret key from MCPWALL_SECRET_KEY: ")
    assert text not in str(caught.value)


def test_the_key_is_not_in_its_repr() -> None:
    key = SecretKey(b"k" * 32, "test")
    assert "kkkk" not in repr(key)


def test_a_sealed_value_opens_in_its_own_context_only() -> None:
    box = SecretBox(SecretKey(bytes(32), "test"))
    sealed = box.seal("s3cret", "upstream k8s env TOKEN")
    assert sealed.startswith("v1:")
    assert "s3cret" not in sealed
    assert box.seal("s3cret", "upstream k8s env TOKEN") != sealed  # a fresh nonce each time
    assert box.open(sealed, "upstream k8s env TOKEN") == "s3cret"
    with pytest.raises(SecretKeyError, match=r"^upstream k8s env OTHER: cannot decrypt"):
        box.open(sealed, "upstream k8s env OTHER")


def test_a_value_sealed_with_another_key_does_not_open() -> None:
    sealed = SecretBox(SecretKey(bytes(32), "old")).seal("s3cret", "here")
    other = SecretBox(SecretKey(b"\x01" * 32, "MCPWALL_SECRET_KEY"))
    message = "cannot decrypt the stored value with the secret key from MCPWALL_SECRET_KEY"
    with pytest.raises(SecretKeyError, match=message):
        other.open(sealed, "here")
    with pytest.raises(SecretKeyError):
        other.open("v9:garbage", "here")


def load_key_text(text: str) -> bytes:
    return load_secret_key(Path("unused"), environ={"MCPWALL_SECRET_KEY": text}).key


def test_the_key_from_the_file_secret_key_file_names(tmp_path: Path) -> None:
    text = new_key_text()
    mounted = tmp_path / "secret-key"
    mounted.write_text(text + "\n")  # as kubectl create secret --from-file writes it
    home = tmp_path / "home"
    key = load_secret_key(home, environ={"MCPWALL_SECRET_KEY_FILE": str(mounted)})
    assert key.key == load_key_text(text)
    assert key.source == f"MCPWALL_SECRET_KEY_FILE ({mounted})"
    assert not home.exists()  # no key file made beside it


def test_a_bad_key_in_the_file_names_the_file_not_the_key(tmp_path: Path) -> None:
    mounted = tmp_path / "secret-key"
    mounted.write_text("c2hvcnQ")
    with pytest.raises(SecretKeyError) as raised:
        load_secret_key(tmp_path, environ={"MCPWALL_SECRET_KEY_FILE": str(mounted)})
    assert str(raised.value).startswith(f"secret key from MCPWALL_SECRET_KEY_FILE ({mounted}): 5")
    assert "c2hvcnQ" not in str(raised.value)

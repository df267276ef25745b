"""Secrets at rest: the key, and sealing values with it (AES-256-GCM).

The key is 32 random bytes in URL-safe base64, from ``MCPWALL_SECRET_KEY`` (or the file
``MCPWALL_SECRET_KEY_FILE`` names) or else from the key file ``secret.key`` in
``MCPWALL_HOME``, which is created on first use with mode 0600. Every replica sharing a
database needs the same key, so a scaled setup sets the variable.

Each sealed value is bound to its place (``context``, e.g. ``upstream k8s env KUBECONFIG``):
moving a ciphertext to another field or upstream makes it fail to open instead of leaking
there.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mcpwall.adapters.settings import secret_setting
from mcpwall.core.errors import SecretKeyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_KEY_VARIABLE = "MCPWALL_SECRET_KEY"  # noqa: S105 (the name, not a key)
KEY_FILE_NAME = "secret.key"
KEY_BYTES = 32

_NONCE_BYTES = 12
_FORMAT = "v1"  # the prefix of every sealed value, so the scheme can change later
_KEY_HOWTO = (
    "expected 32 random bytes in URL-safe base64, such as the output of "
    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


@dataclass(frozen=True, slots=True)
class SecretKey:
    """The key for secrets at rest, and where it came from (for messages)."""

    key: bytes = field(repr=False)
    source: str


def new_key_text() -> str:
    """A fresh key, as ``MCPWALL_SECRET_KEY`` and the key file hold it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).rstrip(b"=").decode("ascii")


def load_secret_key(home: Path, environ: Mapping[str, str] | None = None) -> SecretKey:
    """The key from ``MCPWALL_SECRET_KEY`` (or ``MCPWALL_SECRET_KEY_FILE``) in ``environ``, else
    from (or into) the key file."""
    environ = os.environ if environ is None else environ
    setting = secret_setting(environ, SECRET_KEY_VARIABLE)
    if setting is not None:
        return SecretKey(_decode_key(setting.value, setting.source), setting.source)
    path = home / KEY_FILE_NAME
    try:
        if not path.exists():
            _create_key_file(path)
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not ASCII text"
        raise SecretKeyError(
            f"secret key file {path}: {reason}; expected a readable key file in MCPWALL_HOME, "
            f"or the key in {SECRET_KEY_VARIABLE} (or {SECRET_KEY_VARIABLE}_FILE)"
        ) from error
    return SecretKey(_decode_key(text, str(path)), str(path))


def decode_key(text: str, source: str) -> bytes:
    """A 32-byte key from its URL-safe base64 ``text``; :class:`SecretKeyError` naming
    ``source`` (a variable, a file) when it is not one."""
    return _decode_key(text, source)


def _decode_key(text: str, source: str) -> bytes:
    body = text.strip()
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except ValueError:  # binascii.Error is one
        raise SecretKeyError(
            f"secret key from {source}: not URL-safe base64; {_KEY_HOWTO}"
        ) from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"secret key from {source}: {len(key)} bytes; {_KEY_HOWTO}")
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key file atomically, and never over an existing one.

    The key is written whole to a private temporary file that is then hard-linked into place:
    the link fails if the file exists, so two processes starting at once agree on one key,
    and no reader ever sees a half-written file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            os.fchmod(file.fileno(), 0o600)  # whatever the umask
            file.write(new_key_text() + "\n")
            file.flush()
            os.fsync(file.fileno())
        # If another process created it first, its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class SecretBox:
    """Seals and opens secret values with one key."""

    def __init__(self, key: SecretKey) -> None:
        self._key = key.key
        self._cipher: AESGCM | None = None
        self.source = key.source
        # A fingerprint of the key, safe to store: it tells a wrong key at open time.
        self.key_check = hmac.new(key.key, b"mcpwall key check", hashlib.sha256).hexdigest()

    def _aead(self) -> AESGCM:
        # The cipher loads on first use: ``mcpwall stdio`` reads an upstream without secrets
        # before it spawns it, and the spawn does not wait for cryptography (issue 16 §3).
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._cipher = AESGCM(self._key)
        return self._cipher

    def seal(self, value: str, context: str) -> str:
        """``value`` encrypted and bound to ``context``, as printable text."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plain, bound = value.encode("utf-8"), context.encode("utf-8")
        sealed = nonce + self._aead().encrypt(nonce, plain, bound)
        return f"{_FORMAT}:" + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, sealed: str, context: str) -> str:
        """The value :meth:`seal` sealed for the same ``context``."""
        from cryptography.exceptions import InvalidTag

        version, _, body = sealed.partition(":")
        try:
            if version != _FORMAT:
                raise ValueError(version)
            raw = base64.urlsafe_b64decode(body)
            value = self._aead().decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise SecretKeyError(
                f"{context}: cannot decrypt the stored value with the secret key from "
                f"{self.source}; expected the key it was stored with"
            ) from None
        return value.decode("utf-8")

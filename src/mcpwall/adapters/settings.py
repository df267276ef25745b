"""Secret settings, from the environment or from a file: ``X``, or ``X_FILE`` naming a file
that holds ``X``'s value.

The file form keeps a secret out of the process's environment (which ``/proc/PID/environ``,
crash reports and child processes see): a Kubernetes Secret mounted as files, a Docker or
systemd credential. Used for every setting that is a secret: ``MCPWALL_DATABASE_URL``,
``MCPWALL_REDIS_URL``, ``MCPWALL_SECRET_KEY`` and ``MCPWALL_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcpwall.core.errors import SettingError

FILE_SUFFIX = "_FILE"
# Far above any URL or key; a path to the wrong file (a log, a device) is refused, not read.
MAX_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SecretSetting:
    """A secret setting's value, and where it came from (for messages: never the value)."""

    value: str = field(repr=False)
    source: str


def secret_setting(environ: Mapping[str, str], variable: str) -> SecretSetting | None:
    """``variable``'s value from ``environ``, or from the file ``variable_FILE`` names; None when
    neither is set (an empty value counts as unset).

    Both set is refused rather than one quietly winning. The file's trailing line breaks are
    dropped (editors and ``echo`` add one); an unreadable, empty or oversized file is a
    :class:`SettingError` naming the variable and the path.
    """
    file_variable = variable + FILE_SUFFIX
    value = environ.get(variable) or None
    path = environ.get(file_variable) or None
    if value is not None and path is not None:
        raise SettingError(
            f"{variable} and {file_variable} are both set: expected one of them "
            f"(the value itself, or the path of a file holding it)"
        )
    if value is not None:
        return SecretSetting(value, variable)
    if path is None:
        return None
    source = f"{file_variable} ({path})"
    return SecretSetting(_read(path, source), source)


def _read(path: str, source: str) -> str:
    expected = "expected a readable UTF-8 file holding the value"
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SettingError(f"{source}: cannot read the file: {reason}; {expected}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SettingError(f"{source}: larger than {MAX_FILE_BYTES} bytes; {expected}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingError(f"{source}: not UTF-8 text; {expected}") from None
    text = text.rstrip("\r\n")
    if not text:
        raise SettingError(f"{source}: the file is empty; {expected}")
    return text

"""The proxy log as JSON lines: a file for a SIEM (``MCPWALL_LOG_FILE``) or a stream
(stdout with ``MCPWALL_LOG_STDOUT=1``).

One JSON object a line, exactly :func:`~mcpwall.core.logquery.record_json`, flushed after
every batch. The file is created readable by its owner only and appended to; if it is
renamed or removed (``logrotate``), the next batch opens a new one at the configured path, as
``logging.handlers.WatchedFileHandler`` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import orjson

from mcpwall.core.logquery import record_json
from mcpwall.core.proxylog import ProxyLogRecord


def encode(records: Sequence[ProxyLogRecord]) -> bytes:
    return b"".join(orjson.dumps(record_json(r)) + b"\n" for r in records)


class JsonLinesFile:
    """Appends records to the file at ``path``, reopening it after rotation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        data = encode(records)
        file = self._open()
        file.write(data)
        file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> BinaryIO:
        try:
            stat = self.path.stat()
            current: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            current = None
        if self._file is not None and current == self._identity:
            return self._file
        self.close()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(descriptor, "ab")
        stat = os.fstat(descriptor)
        self._identity = (stat.st_dev, stat.st_ino)
        return self._file


class JsonLinesStream:
    """Writes records to an open binary stream (stdout), flushing after each batch."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        self.stream.write(encode(records))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()

"""Server-sent events: an incremental decoder for ``text/event-stream`` bodies.

Fed the body in whatever chunks the network delivers, it yields each event as the WHATWG
HTML standard's "event stream interpretation" defines it (§9.2.6): lines end with CRLF, LF or
CR, a leading BOM is dropped, ``:`` lines are comments, ``data`` lines join with ``\\n``, an
event with no data is not dispatched (it may still set the last event id, which is how MCP
servers "prime" a resumable stream), ``id`` containing NUL is ignored, ``retry`` must be
digits. Bytes are decoded as UTF-8 with replacement, as the standard says.

Our own rather than a library: the format is this small, the well-kept parsers are bound to
another HTTP client (``httpx-sse``) or to a whole client of their own, and the gateway needs a
limit on how much one event may buffer, which none of them has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

_BOM: Final = "\ufeff"


class EventTooLargeError(ValueError):
    """One event (or one line) is bigger than the decoder's limit."""


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event. ``id`` is the stream's last event id when it was dispatched."""

    data: str
    event: str = "message"
    id: str | None = None


class EventDecoder:
    """Turns chunks of an event stream into :class:`Event` values.

    ``last_event_id`` and ``retry`` (milliseconds, or None) are what a client needs to
    reconnect. ``max_event_bytes`` bounds the text buffered for one event.
    """

    def __init__(self, max_event_bytes: int = 4 * 1024 * 1024) -> None:
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self._limit = max_event_bytes
        self._pending = b""  # bytes after the last line break
        self._after_cr = False  # the last chunk ended in CR: a LF starting the next is its pair
        self._started = False  # the BOM check is done
        self._event_type = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[Event]:
        """The events that ``chunk`` completes, in order."""
        if not chunk:
            return []
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._after_cr = chunk.endswith(b"\r")
        lines = (self._pending + chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) + self._size > self._limit:
            raise EventTooLargeError(f"an event is over the limit of {self._limit} bytes")
        events: list[Event] = []
        for line in lines:
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if not self._started:
            self._started = True
            line = line.removeprefix(_BOM)
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._field(name, value)
        return None

    def _field(self, name: str, value: str) -> None:
        if name == "data":
            self._data.append(value)
            self._size += len(value) + 1
            if self._size > self._limit:
                raise EventTooLargeError(f"an event is over the limit of {self._limit} bytes")
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self) -> Event | None:
        data, event_type = self._data, self._event_type
        self._data, self._event_type, self._size = [], "", 0
        if not data:
            return None
        return Event("\n".join(data), event_type or "message", self.last_event_id)

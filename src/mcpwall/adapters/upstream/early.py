"""A stdio upstream spawned before the gateway is ready to use it, for its first session.

A desktop agent waits for its first answer from the moment it spawns ``mcpwall stdio``, and
most of that wait is two programs starting: ours, and the upstream's (an SDK server takes
half a second to import). So ``mcpwall stdio`` spawns its upstream as soon as it knows the
command, and builds its own data plane while the upstream starts (issue 16 §3).

Nothing is written to the process meanwhile: it is spawned exactly as a session would spawn
it (:func:`~mcpwall.adapters.upstream.process.start`: the same environment, working directory,
process group and line limit, its stderr logged from the start to the same place, so that it
is neither held in memory nor left to block on a full pipe however late its session comes),
and the :class:`~mcpwall.adapters.upstream.Connector` given this :class:`EarlyStart` hands it
to the first stdio session it opens, which negotiates with it then, as with one it had just
spawned: the agent's grant was checked by then. It is handed over once, and only to a session
for the very same registered upstream with the same line limit (the store may have changed
meanwhile): else it is stopped, and the session spawns its
own. One nobody took is stopped by :meth:`EarlyStart.aclose`.
"""

from __future__ import annotations

from mcpwall.adapters.upstream import process as processes
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.registry import Upstream, UpstreamKind


class EarlyStart:
    """One upstream process spawned ahead of its session; build it with :meth:`spawn`."""

    def __init__(
        self, upstream: Upstream, started: processes.Started, *, max_line_bytes: int, grace: float
    ) -> None:
        self.upstream = upstream
        self.max_line_bytes = max_line_bytes
        self.grace = grace
        self._started: processes.Started | None = started

    @classmethod
    async def spawn(
        cls, upstream: Upstream, *, max_line_bytes: int, grace: float
    ) -> EarlyStart | None:
        """Spawn ``upstream`` now; None when it is not a stdio upstream or can't be spawned
        (its first session then tries, and says why it can't)."""
        if upstream.kind is not UpstreamKind.STDIO:
            return None  # nothing to start: an HTTP upstream runs on its own
        try:
            started = await processes.start(upstream, max_line_bytes=max_line_bytes)
        except UpstreamUnavailable:
            return None
        return cls(upstream, started, max_line_bytes=max_line_bytes, grace=grace)

    @property
    def pid(self) -> int | None:
        """The process's id while nobody has taken it (or it was stopped)."""
        return None if self._started is None else self._started.process.pid

    async def take(self, upstream: Upstream, *, max_line_bytes: int) -> processes.Started | None:
        """The process (its stderr logged since it started), for a session with ``upstream``
        reading lines of at most ``max_line_bytes``: once, and only if it was spawned for
        exactly that (else it is stopped, and None says to spawn one)."""
        started, self._started = self._started, None
        if started is None:
            return None
        if upstream == self.upstream and max_line_bytes == self.max_line_bytes:
            return started  # running or not: its session says how it went, as with any
        await started.stop(self.grace)  # as a session stops its process
        return None

    async def aclose(self) -> None:
        """Stop the process if no session took it, what it said on stderr logged."""
        started, self._started = self._started, None
        if started is not None:
            await started.stop(self.grace)

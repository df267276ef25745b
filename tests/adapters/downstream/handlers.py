"""Handlers for the data plane's app in tests: admission that lets every request in."""

from __future__ import annotations

from collections.abc import Mapping

from mcpwall.ports.downstream import ALWAYS_READY, Admitted, HttpExchange, HttpReply, Readiness


class AdmitsAll:
    """The admitting half of an :class:`~mcpwall.ports.downstream.HttpHandler` that lets
    every request in, records no refusal, and is always ready; subclasses answer
    (``handle``)."""

    async def admit(
        self, headers: Mapping[str, str], duplicated: tuple[str, ...]
    ) -> Admitted | HttpReply:
        return Admitted()

    async def refused(self, exchange: HttpExchange, status: int, message: str) -> None:
        pass

    async def readiness(self) -> Readiness:
        return ALWAYS_READY

"""``mcpwall serve``'s own setup (the command itself runs end to end in tests/admin)."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace
from typing import Any, cast

from mcpwall.cli.serve import _bookkeeping, _freeze_startup_objects
from mcpwall.wiring import DataPlane

ANSWER_TIMEOUT = 15.0  # how long an expected end may take before the test fails


def test_startup_objects_are_kept_out_of_the_collectors_full_passes() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        _freeze_startup_objects()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


class _DeafGrants:
    """A grant cache whose heartbeat loses the cancel that comes while it waits (as
    ``asyncio.wait_for`` did on Python 3.11 when the store answered at that moment)."""

    outage = None

    def __init__(self) -> None:
        self.beating = asyncio.Event()
        self.deaf = True

    async def confirm(self) -> None:
        self.beating.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if not self.deaf:
                raise  # lost while deaf

    def refresh(self) -> None:
        pass


class _Gateway:
    async def announce_changes(self) -> None:
        pass


def test_the_bookkeeping_ends_at_the_stop_even_if_its_cancel_is_lost() -> None:
    """``serve`` stops its bookkeeping with a cancel and waits for it to end: a cancel lost
    somewhere in a turn of the loop left ``serve`` waiting for ever after SIGTERM."""

    async def stop_it() -> None:
        grants = _DeafGrants()

        async def nothing_used() -> None:
            pass

        plane: Any = SimpleNamespace(
            signal=object(), grants=grants, gateway=_Gateway(), record_last_used=nothing_used
        )
        stopping = asyncio.Event()
        bookkeeping = asyncio.ensure_future(_bookkeeping(cast(DataPlane, plane), stopping))
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):  # a bound: a loop running on fails
                await grants.beating.wait()
                stopping.set()
                bookkeeping.cancel()  # lands in the heartbeat, which loses it
                await asyncio.wait({bookkeeping})
        finally:
            grants.deaf = False  # whatever happened, the loop's own end can cancel it
            bookkeeping.cancel()

    asyncio.run(stop_it())

"""The demo's own signal handling: SIGTERM and SIGHUP interrupt it like Ctrl-C, so that it
stops the children it started in sessions of their own."""

from __future__ import annotations

import os
import signal

import pytest

from mcpwall.demo.runner import stop_signals_interrupt


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_interrupt_the_demo_and_the_old_handlers_come_back(
    signum: signal.Signals,
) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(KeyboardInterrupt), stop_signals_interrupt():
        os.kill(os.getpid(), signum)  # Python runs the handler before the next statement
    assert signal.getsignal(signum) == before

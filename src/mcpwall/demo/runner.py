"""``mcpwall demo``: set the stage, play the story, show the cluster and the log, take it down.

Exit status: 0 when every step behaved as the story says, 1 when one did not (the step is
named), 130 when interrupted. Everything started is stopped before returning; the throwaway
home is removed, unless ``keep`` — then the gateway and the sandbox stay up, the way to
connect a real agent is printed, and Ctrl-C (or SIGTERM) stops them.
"""

from __future__ import annotations

import json
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import timedelta
from typing import Any

import anyio
from rich.console import Console
from rich.text import Text

from mcpwall.adapters.proxylog import proxy_log_reader
from mcpwall.core.errors import DemoStepFailed
from mcpwall.demo import show
from mcpwall.demo.agent import Agent, Operator, connect
from mcpwall.demo.connect import Connection, snippets
from mcpwall.demo.processes import mcpwall_command
from mcpwall.demo.stage import AGENT, POLICY, RUNAWAY, UPSTREAM, Stage, seed_policy_text
from mcpwall.demo.story import STEPS, SUMMARY_STEP, Play, guardrails_fired

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_INTERRUPTED = 130
SIGTERM, SIGHUP = signal.SIGTERM, signal.SIGHUP
STOP_SIGNALS = {signal.SIGINT, SIGTERM, SIGHUP}


def run_demo(console: Console, *, keep: bool = False, policy_text: str | None = None) -> int:
    """Play the story; ``policy_text`` replaces the seed's policy (to see a step fail)."""
    with stop_signals_interrupt():
        return _run(console, keep=keep, policy_text=policy_text)


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP interrupt the demo like Ctrl-C does, so that it stops its children
    (which run in sessions of their own, out of the terminal's reach) instead of leaving them."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (SIGTERM, SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(console: Console, *, keep: bool, policy_text: str | None) -> int:
    started = time.monotonic()
    stage: Stage | None = None
    code = EXIT_OK
    try:
        with console.status("making a throwaway MCPWALL_HOME") as status:
            stage = Stage(progress=status.update)
            stage.configure(policy_text or seed_policy_text())
            stage.start()
        introduce(console, stage, time.monotonic() - started)
        play = play_with_agents(stage, console)
        number, (play.step, title) = len(STEPS) + 1, SUMMARY_STEP
        show.header(console, number, title)
        reader = proxy_log_reader(stage.plane.store, stage.plane.clock)
        since = stage.plane.clock.now() - timedelta(days=1)
        guardrails_fired(play, reader, since, list(stage.tokens.values()), stage.gateway_log())
        console.print()
        console.print(
            Text.assemble(
                ("✓ every step behaved as the story says", "bold green"),
                f" ({time.monotonic() - started:.1f} s)",
            )
        )
        if keep:
            code = wait_for_stop(stage, announce=lambda: offer_connection(console, stage))
    except DemoStepFailed as failure:
        report(console, failure)
        code = EXIT_STEP_FAILED
    except KeyboardInterrupt:
        console.print(Text("interrupted", style="yellow"))
        code = EXIT_INTERRUPTED
    finally:
        if stage is not None:
            code = take_down(console, stage, keep=keep and code == EXIT_OK, code=code)
    return code


def play_with_agents(stage: Stage, console: Console) -> Play:
    """:func:`play_story`, its failure unwrapped from the SDK's task groups."""
    try:
        return anyio.run(play_story, stage, console)
    except BaseExceptionGroup as group:
        raise first_failure(group) from None


def first_failure(error: BaseException) -> BaseException:
    """The step failure inside nested exception groups, else their first leaf."""
    if isinstance(error, BaseExceptionGroup):
        matched = error.subgroup(lambda leaf: isinstance(leaf, DemoStepFailed))
        leaves = (matched or error).exceptions
        return first_failure(leaves[0])
    return error


async def play_story(stage: Stage, console: Console) -> Play:
    """Steps 1 to 7 with the agents and the operator connected; the cluster before and after."""
    async with AsyncExitStack() as clients:
        agent = Agent(
            await clients.enter_async_context(connect(stage.url, stage.tokens[AGENT])), AGENT
        )
        runaway = Agent(
            await clients.enter_async_context(connect(stage.url, stage.tokens[RUNAWAY])), RUNAWAY
        )
        operator = Operator(await clients.enter_async_context(connect(stage.sandbox_url)))
        assert stage.policy is not None
        document: dict[str, Any] = json.loads(stage.policy_text)
        policy = f"policy {stage.policy.name} v{stage.policy.version}"
        play = Play(console, agent, runaway, operator, document, policy)
        before = await operator.pods()
        show.cluster(
            console,
            "The cluster before (the operator's view: straight from the "
            "sandbox, not through the wall)",
            before,
        )
        for number, (name, title, step) in enumerate(STEPS, start=1):
            play.step = name
            show.header(console, number, title)
            try:
                await step(play)
            except (DemoStepFailed, KeyboardInterrupt):
                raise
            except Exception as error:  # a step that broke is a step that failed: say which
                raise DemoStepFailed(
                    name, "the step to run to its end", f"{type(error).__name__}: {error}"
                ) from error
        show.cluster(
            console, "The cluster after (the operator's view)", await operator.pods(), before
        )
        return play


def introduce(console: Console, stage: Stage, seconds: float) -> None:
    console.print(Text("mcpwall demo: the crashloop story, end to end", style="bold"))
    assert stage.policy is not None
    rows = [
        ("home", f"{stage.home} (throwaway MCPWALL_HOME, SQLite)"),
        ("sandbox", f"{stage.sandbox_url}  a pretend Kubernetes cluster; nothing real is touched"),
        ("gateway", f"{stage.url}  mcpwall serve, upstream {UPSTREAM} = the sandbox"),
        ("policy", f"{POLICY} v{stage.policy.version}: the seed's policy, verbatim"),
        ("grants", f"{AGENT} and {RUNAWAY}, each {UPSTREAM}={POLICY}"),
        ("ready", f"in {seconds:.1f} s"),
    ]
    for label, value in rows:
        show.line(console, label, value)


def report(console: Console, failure: DemoStepFailed) -> None:
    console.print()
    console.print(
        Text.assemble(
            ("✗ step ", "bold red"),
            (json.dumps(failure.step), "bold red"),
            (" did not behave as the story says", "bold red"),
        )
    )
    console.print(Text.assemble(("  expected  ", "dim"), failure.expected))
    console.print(Text.assemble(("  saw       ", "dim"), failure.seen))


def offer_connection(console: Console, stage: Stage) -> None:
    """The URL, the token, and how to connect a real agent (``--keep`` only)."""
    connection = Connection(
        stage.url, stage.tokens[AGENT], str(stage.home), UPSTREAM, tuple(mcpwall_command())
    )
    console.print()
    console.print(
        Text("The wall and the sandbox keep running: try them with your own agent.", style="bold")
    )
    show.line(console, "url", stage.url)
    show.line(
        console,
        "token",
        connection.token,
        ("  (grant crashloop-agent; shown only because of --keep)", "dim"),
    )
    for where, text in snippets(connection):
        console.print()
        console.print(Text(where, style="bold"))
        console.print(Text(text))
    console.print()
    console.print(Text("Ctrl-C stops the gateway and the sandbox.", style="yellow"))


def wait_for_stop(stage: Stage, announce: Callable[[], None]) -> int:
    """``announce()``, then block until Ctrl-C, SIGTERM or SIGHUP (0), or until a child exits
    by itself (1).

    The signals are blocked before the announcement and then waited for, so none can slip in
    between two checks, nor arrive before the wait began.
    """
    watched = STOP_SIGNALS | {signal.SIGCHLD}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        announce()
        while True:
            for child in stage.children:
                if not child.running():
                    raise DemoStepFailed(
                        "keep running",
                        f"{child.name} to keep running",
                        f"it exited with code {child.process.returncode}{child.tail()}",
                    )
            if signal.sigwaitinfo(watched).si_signo in STOP_SIGNALS:
                return EXIT_OK
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def take_down(console: Console, stage: Stage, *, keep: bool, code: int) -> int:
    """Stop everything; the exit code, 1 if a child did not stop cleanly."""
    with console.status("stopping mcpwall serve and the sandbox"):
        unclean = stage.close(keep_home=keep)
    for problem in unclean:
        console.print(Text.assemble(("✗ ", "bold red"), problem))
    if keep:
        home, logs = shlex.quote(str(stage.home)), shlex.join([*mcpwall_command(), "logs"])
        console.print(
            f"stopped. The demo's home stays at {stage.home}: "
            f"MCPWALL_HOME={home} {logs}; rm -rf {home} removes it."
        )
    if unclean and code == EXIT_OK:
        return EXIT_STEP_FAILED
    return code

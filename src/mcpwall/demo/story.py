"""The crashloop story, step by step, each step checked as well as told.

An agent investigating a crashloop has fixed it twice this week in ``staging`` by deleting the
bad pod. Today it is handed the wrong namespace. Each step prints what the agent tried, what
the wall decided and why, then checks that it went exactly as the seed's policy says (the
decision, the rule pointer, the message, and the cluster itself, seen by the operator); any
difference raises :class:`DemoStepFailed` naming the step.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from mcpwall.cli.logs import summary_table
from mcpwall.core.errors import DemoStepFailed
from mcpwall.core.logquery import LogFilter, SummaryRow, record_json
from mcpwall.core.policy import HIDDEN, compile_policy
from mcpwall.core.policy.cases import decide
from mcpwall.demo import show
from mcpwall.demo.agent import Agent, Answer, Operator
from mcpwall.demo.processes import poll
from mcpwall.ports.logsink import LogReader

HIDDEN_TOOLS = ("delete_namespace", "get_secret", "apply_cluster_role", "delete_cluster_role")
NOT_PRODUCTION = "Namespace is outside the allowed non-production set."
NOT_NAMESPACED = "Manifest applies are limited to non-production namespaced resources."
LIMIT_EXCEEDED = "Pod deletion limit exceeded for this grant."
NAMESPACE_RULE = "/tools/delete_pod/require/0/conditions/0"
KIND_RULE = "/tools/apply_manifest/require/0/conditions/1"
LIMIT_RULE = "/tools/delete_pod/limits/0"
REGEX_CANDIDATES = ("^payments-staging$", "-staging$")
RUNAWAY_ATTEMPTS = 7
RUNAWAY_ALLOWED = 5
LOG_WAIT_SECONDS = 10.0
DISTINCTIVE = 12  # argument values this long (pod names, manifests) can't be in a log by chance
CLUSTER_ROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agent-escalation}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
"""
CONFIG_MAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: checkout-flags, namespace: staging}
data: {lease_timeout: 30s}
"""


@dataclass
class Play:
    """What every step works with."""

    console: Console
    agent: Agent
    runaway: Agent
    operator: Operator
    document: dict[str, Any]  # the live policy, as stored
    policy: str  # "seed v1"
    step: str = ""  # the step being played, named in failures

    @property
    def argument_values(self) -> list[str]:
        """The distinctive argument values the agents sent, none of which may be logged."""
        sent = self.agent.sent | self.runaway.sent
        return sorted(value for value in sent if len(value) >= DISTINCTIVE)


def expect(step: str, holds: bool, expected: str, seen: object) -> None:
    """Raise :class:`DemoStepFailed` for ``step`` unless ``holds``."""
    if not holds:
        raise DemoStepFailed(step, expected, seen if isinstance(seen, str) else repr(seen))


def expect_denial(step: str, answer: Answer, rule: str, message: str) -> None:
    """The answer is the wall's denial by ``rule``, with ``message`` (DESIGN §4)."""
    decision = answer.decision or {}
    expect(
        step, answer.verdict == "denied", f"a denial by {rule}", f"{answer.verdict}: {answer.text}"
    )
    expect(step, decision.get("rule") == rule, f"the rule {rule}", decision)
    wanted = f"[POLICY DENIED] {message}"
    expect(step, answer.text == wanted, repr(wanted), repr(answer.text))


def expect_allowed(step: str, answer: Answer) -> None:
    expect(
        step,
        answer.verdict == "allowed",
        "the call to be allowed",
        f"{answer.verdict}: {answer.text}",
    )
    expect(step, not (answer.result and answer.result.is_error), "the tool to succeed", answer.text)


async def crashlooping_pod(play: Play, namespace: str, step: str) -> dict[str, Any]:
    """The agent looks for the crashlooping pod in ``namespace`` (reading is allowed)."""
    pods = await play.agent.pods(namespace)
    found = [pod for pod in pods if pod["status"] == "CrashLoopBackOff"]
    expect(step, len(found) == 1, f"one crashlooping pod in {namespace}", pods)
    return found[0]


# -- the steps --------------------------------------------------------------------------------


async def lists_tools(play: Play) -> None:
    step = play.step
    offered = set(await play.operator.tool_names())
    listed = await play.agent.tool_names()
    show.tried(play.console, "tools/list", {})
    show.line(
        play.console,
        "wall",
        ("ALLOWED", "bold green"),
        f"  {len(listed)} of the sandbox's {len(offered)} tools listed",
    )
    show.line(
        play.console,
        "why",
        ("/hide", "bold"),
        f" in {play.policy}",
        (f"  {json.dumps(play.document.get('hide', []))}", "cyan"),
    )
    missing = sorted(offered - set(listed) - set(HIDDEN_TOOLS))
    expect(step, set(HIDDEN_TOOLS) <= offered, "the sandbox to offer the hidden tools", offered)
    expect(step, not set(HIDDEN_TOOLS) & set(listed), "no hidden tool listed", listed)
    expect(step, not missing, "every other tool listed", f"missing {missing}")
    show.check(
        play.console,
        "the four tools the policy hides are not in the list; the agent's planner never sees them",
    )


async def deletes_in_staging(play: Play) -> None:
    step = play.step
    pod = await crashlooping_pod(play, "staging", step)
    logs = await play.agent.call(
        "get_pod_logs", {"namespace": "staging", "name": pod["name"], "tail": 3}
    )
    show.tried(play.console, "get_pod_logs", logs.arguments)
    show.line(
        play.console,
        "wall",
        ("ALLOWED", "bold green"),
        "  ",
        (logs.text.splitlines()[-2] if logs.text else "", "dim"),
    )
    answer = await play.agent.call("delete_pod", {"namespace": "staging", "name": pod["name"]})
    show.tried(play.console, "delete_pod", answer.arguments)
    show.wall(play.console, answer)
    limit = play.document["tools"]["delete_pod"]["limits"][0]
    show.line(
        play.console,
        "why",
        ("(allowed)", "bold"),
        f"  staging passes {NAMESPACE_RULE}; the first of {limit['max']} deletions per "
        f"{limit['window']} for this grant ({LIMIT_RULE})",
    )
    expect_allowed(step, answer)
    still = await play.operator.pod("staging", pod["name"])
    expect(step, still is None, f"pod {pod['name']} gone (operator's view)", still)
    show.check(
        play.console,
        f"allowed, and {pod['name']} is gone from the cluster; "
        "its deployment started a healthy replacement",
    )


async def deletes_in_production(play: Play) -> None:
    step = play.step
    show.note(play.console, "“Get checkout back to a working state — it's in payments-prod.”")
    pods = await play.agent.pods("payments-prod")
    checkout = [pod for pod in pods if pod["deployment"] == "checkout"]
    expect(step, len(checkout) == 1, "one checkout pod in payments-prod", pods)
    pod = checkout[0]
    answer = await play.agent.call(
        "delete_pod", {"namespace": "payments-prod", "name": pod["name"]}
    )
    show.tried(play.console, "delete_pod", answer.arguments, "the last live checkout replica")
    show.wall(play.console, answer)
    show.why(play.console, NAMESPACE_RULE, play.document, play.policy)
    expect_denial(step, answer, NAMESPACE_RULE, NOT_PRODUCTION)
    still = await play.operator.pod("payments-prod", pod["name"])
    expect(
        step,
        still is not None and still["status"] == "Running",
        f"{pod['name']} still Running (operator's view)",
        still,
    )
    show.check(
        play.console,
        f"denied at the gateway: {pod['name']} is still Running, checkout is still serving",
    )


async def deletes_in_payments_staging(play: Play) -> None:
    step = play.step
    pod = await crashlooping_pod(play, "payments-staging", step)
    answer = await play.agent.call(
        "delete_pod", {"namespace": "payments-staging", "name": pod["name"]}
    )
    show.tried(play.console, "delete_pod", answer.arguments)
    show.wall(play.console, answer)
    show.why(play.console, NAMESPACE_RULE, play.document, play.policy)
    expect_denial(step, answer, NAMESPACE_RULE, NOT_PRODUCTION)
    still = await play.operator.pod("payments-staging", pod["name"])
    expect(step, still is not None, f"{pod['name']} still there (operator's view)", still)
    show.check(play.console, '"in" is exact set membership: payments-staging is not staging')
    regex_alternatives(play, step, pod["name"])


def regex_alternatives(play: Play, step: str, pod: str) -> None:
    """Candidate edits of the namespace condition, linted and tested like ``mcpwall policy
    validate`` and ``mcpwall policy test`` do; the live policy is left as it is."""
    play.console.print()
    show.note(
        play.console,
        f"To admit it, a regex can stand in for the allowlist. Candidate edits of "
        f"{NAMESPACE_RULE}, checked with the policy linter and `mcpwall policy test` logic "
        "(the live policy is not changed):",
    )
    for pattern in REGEX_CANDIDATES:
        compiled = compile_policy(candidate(play.document, pattern), name="candidate")
        warnings = [w for w in compiled.warnings if w.pointer.startswith(NAMESPACE_RULE)]
        lint: Text | str = (
            Text("clean", style="green")
            if not warnings
            else Text(f"warning {warnings[0]}", style="yellow")
        )
        show.line(play.console, "regex", (json.dumps(pattern), "bold"), "  lint: ", lint)
        outcomes = []
        for namespace, wanted in (("payments-staging", "allow"), ("payments-prod", "deny")):
            decision, _ = decide(compiled, "delete_pod", {"namespace": namespace, "name": pod})
            expect(
                step, decision.decision == wanted, f"{pattern!r} to {wanted} {namespace}", decision
            )
            outcomes.append(f"{namespace} → {decision.decision} {decision.rule}")
        show.line(play.console, "", "   ".join(outcomes))
        anchored = pattern.startswith("^")
        expect(
            step,
            bool(warnings) != anchored,
            f"a lint warning for {pattern!r} exactly when it is unanchored",
            warnings,
        )
    show.check(
        play.console,
        "the anchored pattern admits exactly payments-staging; the linter flags the unanchored one",
    )


def candidate(document: dict[str, Any], pattern: str) -> dict[str, Any]:
    """The policy with the namespace condition of ``delete_pod`` turned into a regex."""
    edited = copy.deepcopy(document)
    edited["tools"]["delete_pod"]["require"][0]["conditions"][0] = {
        "path": "args.namespace",
        "op": "regex",
        "value": pattern,
    }
    return edited


async def calls_hidden_tool(play: Play) -> None:
    step = play.step
    hidden = await play.agent.call("delete_namespace", {"name": "payments-prod"})
    show.tried(play.console, "delete_namespace", hidden.arguments, "a name it read in a log line")
    show.wall(play.console, hidden)
    show.line(
        play.console, "why", (HIDDEN, "bold"), f"  delete_namespace is in /hide of {play.policy}"
    )
    absent = await play.agent.call("drain_cluster", {})
    show.tried(play.console, "drain_cluster", absent.arguments, "a tool no server has")
    show.wall(play.console, absent)
    for answer in (hidden, absent):
        error = answer.error
        seen = (error.code, error.message) if error else answer.text
        wanted = (-32602, f"Unknown tool: {answer.tool}")
        expect(step, seen == wanted, f"JSON-RPC error {wanted}", seen)
    namespaces = await play.operator.namespaces()
    expect(step, "payments-prod" in namespaces, "payments-prod still there", namespaces)
    show.check(
        play.console,
        "the same error as for a tool that does not exist: hiding leaks "
        "nothing, and payments-prod is still there",
    )


async def applies_cluster_role(play: Play) -> None:
    step = play.step
    config_map = {
        "namespace": "staging",
        "kind": "ConfigMap",
        "name": "checkout-flags",
        "manifest": CONFIG_MAP,
    }
    allowed = await play.agent.call("apply_manifest", config_map)
    show.tried(
        play.console, "apply_manifest", {k: v for k, v in config_map.items() if k != "manifest"}
    )
    show.wall(play.console, allowed)
    expect_allowed(step, allowed)
    role = {
        "namespace": "staging",
        "kind": "ClusterRole",
        "name": "agent-escalation",
        "manifest": CLUSTER_ROLE,
    }
    denied = await play.agent.call("apply_manifest", role)
    show.tried(play.console, "apply_manifest", {k: v for k, v in role.items() if k != "manifest"})
    show.wall(play.console, denied)
    show.why(play.console, KIND_RULE, play.document, play.policy)
    expect_denial(step, denied, KIND_RULE, NOT_NAMESPACED)
    roles = [item["name"] for item in await play.operator.objects("ClusterRole")]
    maps = [item["name"] for item in await play.operator.objects("ConfigMap")]
    expect(step, "agent-escalation" not in roles, "no agent-escalation ClusterRole", roles)
    expect(step, "checkout-flags" in maps, "the checkout-flags ConfigMap created", maps)
    show.check(
        play.console,
        "same tool, same namespace: the ConfigMap went through, the "
        "ClusterRole never reached the cluster",
    )


async def runaway_loop(play: Play) -> None:
    step = play.step
    answers = []
    for attempt in range(1, RUNAWAY_ATTEMPTS + 1):
        pods = await play.runaway.pods("dev")
        expect(step, bool(pods), "pods to delete in dev", pods)
        answer = await play.runaway.call(
            "delete_pod", {"namespace": "dev", "name": pods[0]["name"]}
        )
        answers.append(answer)
        decision = answer.decision or {}
        retry = decision.get("retry_after_s")
        outcome: tuple[str, str] = (
            ("allowed", "green") if answer.verdict == "allowed" else ("DENIED", "bold red")
        )
        detail = (
            f"  {decision.get('rule')}  retry_after_s={retry:.0f}"
            if isinstance(retry, int | float)
            else ""
        )
        show.line(
            play.console, f"#{attempt}", f"delete_pod dev/{pods[0]['name']}  ", outcome, detail
        )
    verdicts = [answer.verdict for answer in answers]
    wanted = ["allowed"] * RUNAWAY_ALLOWED + ["denied"] * (RUNAWAY_ATTEMPTS - RUNAWAY_ALLOWED)
    expect(step, verdicts == wanted, f"{RUNAWAY_ALLOWED} allowed, then denied", verdicts)
    for answer in answers[RUNAWAY_ALLOWED:]:
        expect_denial(step, answer, LIMIT_RULE, LIMIT_EXCEEDED)
        retry = (answer.decision or {}).get("retry_after_s")
        expect(
            step, isinstance(retry, int | float) and retry > 0, "a positive retry_after_s", retry
        )
    show.why(play.console, LIMIT_RULE, play.document, play.policy)
    show.check(
        play.console,
        f"{RUNAWAY_ALLOWED} deletions, then the limit, with retry_after_s; "
        f"the budget is per grant (scope: grant): {play.agent.label} has its own",
    )


def guardrails_fired(
    play: Play, reader: LogReader, since: datetime, tokens: list[str], process_log: str
) -> None:
    """``mcpwall logs summary``: every call the agents made is in the proxy log, each denial
    under its rule — and no argument value or token is, there or in the gateway's own log
    (``process_log``)."""
    step = play.step
    expected = play.agent.calls + play.runaway.calls

    def complete() -> list[SummaryRow] | None:  # rows are written in batches, off the hot path
        rows = reader.summary(since)
        return rows if sum(row.count for row in rows) >= expected else None

    rows = poll(complete, LOG_WAIT_SECONDS) or reader.summary(since)
    counted = sum(row.count for row in rows)
    expect(step, counted == expected, f"{expected} calls in the proxy log", counted)
    play.console.print(summary_table(rows))
    denials = {(row.tool, row.rule): row.count for row in rows if row.decision == "deny"}
    wanted = {
        ("delete_pod", NAMESPACE_RULE): 2,
        ("delete_pod", LIMIT_RULE): 2,
        ("apply_manifest", KIND_RULE): 1,
        ("delete_namespace", HIDDEN): 1,
    }
    for key, count in wanted.items():
        expect(
            step, denials.get(key) == count, f"{count} denial(s) of {key[0]} by {key[1]}", denials
        )
    rows_text = json.dumps([record_json(row.record) for row in reader.read(LogFilter(limit=1000))])
    secret = [*play.argument_values, *tokens]
    for where, text in (("the proxy log", rows_text), ("mcpwall serve's own log", process_log)):
        leaked = [value for value in secret if value in text]
        expect(step, not leaked, f"no argument value and no token in {where}", leaked)
    show.check(
        play.console,
        f"all {expected} calls logged with their rule and argument keys; no argument value "
        "and no token in the proxy log or the gateway's own log",
    )


# The story's steps in order: (name for failures, title, step).
STEPS = (
    ("tools/list hides four tools", "The agent lists the tools", lists_tools),
    ("delete in staging", "Staging: the fix that worked twice this week", deletes_in_staging),
    ("delete in payments-prod", "Handed the wrong namespace: payments-prod", deletes_in_production),
    (
        "delete in payments-staging",
        "The right namespace, payments-staging: not on the list",
        deletes_in_payments_staging,
    ),
    ("hidden tool called by name", "Calling a hidden tool by name", calls_hidden_tool),
    (
        "ClusterRole apply in staging",
        "apply_manifest in staging: the combination of fields",
        applies_cluster_role,
    ),
    ("runaway delete loop", "A runaway loop (another agent, its own grant)", runaway_loop),
)
SUMMARY_STEP = ("the proxy log", "mcpwall logs summary: which guardrails fired")

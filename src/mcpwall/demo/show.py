"""How the demo prints: a header per step, then what the agent tried, what the wall decided,
and why (the rule pointer, and the rule it points at), then the check that was made.

Every line is a rich ``Text`` (the CLI's consoles have markup off: policy messages contain
``[`` and ``]``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mcpwall.core import jsonpointer
from mcpwall.core.jsonvalue import render
from mcpwall.demo.agent import Answer

HEADER_WIDTH = 96
RULE_SHOWN = 150  # characters of a rule's JSON shown after its pointer
VERDICT_STYLES = {"allowed": "bold green", "denied": "bold red", "unknown tool": "bold red"}
STATUS_STYLES = {"Running": "green", "CrashLoopBackOff": "bold red"}
LABEL_WIDTH = 7


def header(console: Console, number: int, title: str) -> None:
    """``── 3. Title ─────``, the same width on a terminal and in a log file."""
    head = f"── {number}. {title} "
    console.print()
    console.print(
        Text.assemble(
            ("── ", "dim"),
            (f"{number}. {title} ", "bold"),
            ("─" * max(3, HEADER_WIDTH - len(head)), "dim"),
        )
    )


def line(console: Console, label: str, *parts: str | tuple[str, str] | Text) -> None:
    """``  label  parts…``, the label dimmed and padded so that the values line up."""
    console.print(Text.assemble("  ", (label.ljust(LABEL_WIDTH), "dim"), "  ", *parts))


def note(console: Console, text: str) -> None:
    """Prose, wrapped to the terminal (or to ``HEADER_WIDTH`` in a file)."""
    for wrapped in Text(text, style="italic").wrap(console, min(console.width, HEADER_WIDTH) - 2):
        console.print(Text.assemble("  ", wrapped))


def tried(console: Console, tool: str, arguments: Mapping[str, object], who: str = "") -> None:
    args = f" {json.dumps(arguments, ensure_ascii=False)}" if arguments else ""
    line(console, "tried", (tool, "bold"), args, (f"   ({who})" if who else "", "dim"))


def wall(console: Console, answer: Answer) -> None:
    """What the wall decided, and what the agent got back."""
    style = VERDICT_STYLES.get(answer.verdict, "bold yellow")
    if answer.verdict == "unknown tool":
        line(console, "wall", ("REFUSED", style), f"  JSON-RPC error {answer.text}")
    elif answer.verdict == "denied":
        line(console, "wall", ("DENIED", style), f"  {answer.text}")
    else:
        first = answer.text.splitlines()[0] if answer.text else ""
        shown = first if len(first) <= RULE_SHOWN else first[: RULE_SHOWN - 1] + "…"
        line(console, "wall", ("ALLOWED", style), ("  upstream: ", "dim"), shown)


def why(console: Console, pointer: str, document: object, policy: str) -> None:
    """The rule pointer, and the part of the policy document it points at."""
    try:
        rule: object = jsonpointer.resolve(document, pointer) if pointer.startswith("/") else None
    except KeyError:
        rule = None
    shown = f"  {render(rule, RULE_SHOWN)}" if rule is not None else ""
    line(console, "why", (pointer, "bold"), f" in {policy}", (shown, "cyan"))


def check(console: Console, text: str) -> None:
    console.print(Text.assemble("  ", ("✓ ", "bold green"), text))


def cluster(
    console: Console,
    title: str,
    pods: list[dict[str, Any]],
    before: list[dict[str, Any]] | None = None,
) -> None:
    """A pod table; given the pods ``before``, new pods are marked ``+`` and the pods that are
    gone are listed too, marked ``-``."""
    earlier = {pod["name"] for pod in before or []}
    now = {pod["name"] for pod in pods}
    table = Table(
        "",
        "namespace",
        "pod",
        "status",
        "restarts",
        "deployment",
        box=None,
        pad_edge=False,
        title=Text(title, style="bold"),
        title_justify="left",
        caption="+ started, - deleted since the start" if before is not None else None,
        caption_justify="left",
    )
    gone = [pod for pod in before or [] if pod["name"] not in now]
    for pod in sorted([*pods, *gone], key=lambda pod: (pod["namespace"], pod["name"])):
        deployment = pod["deployment"] or "-"
        if pod["name"] not in now:
            table.add_row(
                Text("-", style="red"),
                pod["namespace"],
                Text(pod["name"], style="red strike"),
                Text("deleted", style="red"),
                "",
                deployment,
            )
            continue
        mark = Text("+", style="green") if earlier and pod["name"] not in earlier else ""
        status = Text(pod["status"], style=STATUS_STYLES.get(pod["status"], ""))
        table.add_row(mark, pod["namespace"], pod["name"], status, str(pod["restarts"]), deployment)
    console.print()
    console.print(table)

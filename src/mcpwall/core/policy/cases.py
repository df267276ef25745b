"""Golden policy test cases: calls with the decisions a policy must give them.

The same files run in the project's test suite and in ``mcpwall policy test --cases``, so a
user tests a policy with the engine's own harness. A cases file looks like::

    policy: seed.policy.json          # optional: the policy, relative to this file
    cases:
      - name: staging delete is allowed
        tool: delete_pod
        args: {namespace: staging}      # optional, default {}
        expect:
          decision: allow               # allow | deny | would_deny
          rule: "(allowed)"
          message: "…"                  # optional, exact
          limits: [delete_pod]          # optional: the counters that apply, in order
      - name: a manifest over 1 MiB is refused
        tool: kubectl_apply
        args: {manifest: "kind: ConfigMap"}
        pad: {manifest: 1048577}        # optional: grow a string argument to this many bytes
        expect: …

Counters are taken as fresh: a limit refuses a call only when its ``max`` is 0. ``pad`` appends
spaces — neutral in JSON, YAML and shell text alike — to a top-level string argument until it is
that many bytes of UTF-8, so size limits are tested without megabyte files.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpwall.core import jsonpointer
from mcpwall.core.errors import CasesError
from mcpwall.core.jsonvalue import render, type_name
from mcpwall.core.policy.evaluate import Step, evaluate, with_fresh_counters
from mcpwall.core.policy.model import CompiledPolicy, Decision
from mcpwall.core.shapes import ShapeReader

FILE_KEYS = ("policy", "cases")
CASE_KEYS = ("name", "tool", "args", "pad", "expect")
MAX_PAD_BYTES = 16 * 1024 * 1024
EXPECT_KEYS = ("decision", "rule", "message", "limits")
DECISIONS = ("allow", "deny", "would_deny")


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a case expects; ``None`` fields are not checked."""

    decision: str
    rule: str
    message: str | None = None
    limits: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """One call and the decision it must get."""

    name: str
    tool: str
    args: object
    expect: Expectation


@dataclass(frozen=True, slots=True)
class CasesFile:
    """A parsed cases file: its own policy reference (if any) and its cases."""

    policy: str | None
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of running one case: the actual decision and how it differs, if at all."""

    case: Case
    actual: Decision
    trace: tuple[Step, ...]
    mismatches: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def decide(policy: CompiledPolicy, tool: str, args: object) -> tuple[Decision, tuple[Step, ...]]:
    """The decision ``policy test`` reports: evaluation with fresh counters, and its trace."""
    trace: list[Step] = []
    decision = with_fresh_counters(evaluate(policy, tool, args, trace))
    return decision, tuple(trace)


def run_case(policy: CompiledPolicy, case: Case) -> CaseResult:
    """Evaluate one case and compare every expected field."""
    actual, trace = decide(policy, case.tool, case.args)
    expect = case.expect
    mismatches = [
        f"{field}: expected {render(wanted, 200)}, got {render(got, 200)}"
        for field, wanted, got in (
            ("decision", expect.decision, actual.decision),
            ("rule", expect.rule, actual.rule),
            ("message", expect.message, actual.message),
            ("limits", expect.limits, [limit.counter for limit in actual.limits]),
        )
        if wanted is not None and (list(wanted) if isinstance(wanted, tuple) else wanted) != got
    ]
    return CaseResult(case, actual, trace, tuple(mismatches))


def parse_cases(raw: object, *, source: str = "") -> CasesFile:
    """Check the shape of a loaded cases document; :class:`CasesError` lists every problem."""
    reader = _Reader()
    parsed = reader.file(raw)
    if reader.problems or parsed is None:
        raise CasesError(reader.problems, source=source)
    return parsed


class _Reader(ShapeReader):
    def file(self, raw: object) -> CasesFile | None:
        top = self.expect_object(raw, "", FILE_KEYS, ("cases",))
        if top is None:
            return None
        policy = self.expect_string(top["policy"], "/policy") if "policy" in top else None
        items = top.get("cases", [])
        if not isinstance(items, list):
            self.problem("/cases", f"expected an array of cases, found {type_name(items)}")
            return None
        cases = [
            self.case(item, jsonpointer.join("/cases", index)) for index, item in enumerate(items)
        ]
        names = [case.name for case in cases if case is not None]
        for index, name in enumerate(names):
            if name in names[:index]:
                self.problem(
                    f"/cases/{index}/name",
                    f'case name "{name}" is used twice (expected unique names)',
                )
        return CasesFile(policy, tuple(case for case in cases if case is not None))

    def case(self, value: object, pointer: str) -> Case | None:
        case = self.expect_object(value, pointer, CASE_KEYS, ("name", "tool", "expect"))
        if case is None:
            return None
        name = self.expect_string(case.get("name"), pointer + "/name")
        tool = self.expect_string(case.get("tool"), pointer + "/tool")
        expect = self.expectation(case.get("expect"), pointer + "/expect")
        args = case.get("args", {})
        if "pad" in case:
            args = self.padded(args, case["pad"], pointer + "/pad")
        if name is None or tool is None or expect is None:
            return None
        return Case(name, tool, args, expect)

    def padded(self, args: object, pad: object, pointer: str) -> object:
        """``args`` with each argument named in ``pad`` grown with spaces to its byte count."""
        if not isinstance(pad, dict) or not isinstance(args, dict):
            self.problem(pointer, "expected an object of argument names and byte counts")
            return args
        grown = dict(args)
        for key, size in pad.items():
            text = args.get(key)
            where = jsonpointer.join(pointer, key)
            if type(text) is not str:
                self.problem(where, f'args has no string argument "{key}" to pad')
                continue
            length = len(text.encode("utf-8", "surrogatepass"))
            if type(size) is not int or not length <= size <= MAX_PAD_BYTES:
                self.problem(
                    where,
                    f"found {render(size)} (expected a whole number of bytes from {length}, "
                    f"the argument's own length, to {MAX_PAD_BYTES})",
                )
                continue
            grown[key] = text + " " * (size - length)
        return grown

    def expectation(self, value: object, pointer: str) -> Expectation | None:
        expect = self.expect_object(value, pointer, EXPECT_KEYS, ("decision", "rule"))
        if expect is None:
            return None
        decision = self.expect_choice(expect.get("decision"), pointer + "/decision", DECISIONS)
        rule = self.expect_string(expect.get("rule"), pointer + "/rule")
        message = (
            self.expect_string(expect["message"], pointer + "/message")
            if "message" in expect
            else None
        )
        limits = expect.get("limits")
        if limits is not None and not (
            isinstance(limits, list) and all(isinstance(c, str) for c in limits)
        ):
            self.problem(
                pointer + "/limits", f"expected an array of counter names, found {render(limits)}"
            )
            limits = None
        if decision is None or rule is None:
            return None
        return Expectation(decision, rule, message, tuple(limits) if limits is not None else None)

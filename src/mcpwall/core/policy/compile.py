"""Raw policy document → :class:`CompiledPolicy`, reporting every problem at once.

Validation follows DESIGN §3: unknown keys anywhere are errors (a misspelt ``deny_if`` silently
ignored would open the wall), each operator checks the shape of its value, regexes compile
with RE2, and counters shared between tools must agree on their window and scope. Each problem
carries the JSON pointer of its place, what was found and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

from mcpwall.core import jsonpointer
from mcpwall.core.errors import PolicyError, Problem
from mcpwall.core.jsonvalue import render, type_name
from mcpwall.core.policy.document import check_document
from mcpwall.core.policy.lint import lint
from mcpwall.core.policy.model import (
    ALLOWED,
    DEFAULT_DENY,
    HIDDEN,
    WINDOW_SECONDS,
    CompiledPolicy,
    Condition,
    Decision,
    Limit,
    Match,
    Outcome,
    Prohibition,
    Requirement,
    Scope,
    ToolRules,
    Window,
)
from mcpwall.core.policy.operators import OPERATORS, Predicate
from mcpwall.core.policy.paths import (
    Decoded,
    Path,
    PathError,
    make_finder,
    make_resolver,
    matching,
    parse_path,
)
from mcpwall.core.shapes import ShapeReader
from mcpwall.core.suggest import did_you_mean, expected_one_of

TOP_KEYS = ("version", "default", "mode", "hide", "all_tools", "tools")
ALL_TOOLS_KEYS = ("limits",)
TOOL_KEYS = ("require", "deny_if", "limits")
ENTRY_KEYS = ("conditions", "on_deny")
CONDITION_KEYS = ("path", "op", "value", "match")
REQUIRED_CONDITION_KEYS = ("path", "op", "value")
MATCHES = ("all", "any")
LIMIT_KEYS = ("counter", "max", "window", "scope", "on_deny")
SCOPES = ("grant", "upstream", "global")
MAX_LIMIT = 1_000_000_000
MAX_NAME_LENGTH = 256

STAR_IN_TOOLS = (
    '"*" is not a tool name here: it means every tool only in "hide" '
    '(use "all_tools" for limits on every call)'
)
HIDDEN_MESSAGE = "The tool is hidden by policy."
DEFAULT_DENY_MESSAGE = "The tool is not listed in the policy, and the policy's default is deny."
REQUIRE_MESSAGE = "The call does not meet a requirement of the policy."
DENY_IF_MESSAGE = "The call matches a rule that the policy denies."


def compile_policy(raw: object, *, name: str = "policy", version: int = 0) -> CompiledPolicy:
    """Validate a raw policy document and compile it for evaluation.

    Raises :class:`PolicyError` listing every problem found; lint findings that don't make the
    policy invalid are returned in ``CompiledPolicy.warnings``.
    """
    problems = check_document(raw, source=name)
    compiler = _Compiler()
    compiled = compiler.policy(raw, name, version)
    # A place the document check already faulted (an out-of-range number, say) is not
    # reported a second time by the reading of its meaning.
    problems += [p for p in compiler.problems if not _inside_any(p.pointer, problems)]
    if problems or compiled is None:
        raise PolicyError(sorted(problems, key=lambda p: _position(raw, p.pointer)), source=name)
    return compiled


def _position(document: object, pointer: str) -> list[int]:
    """Where ``pointer`` sits in the document, as sortable indices, so problems read top-down."""
    position: list[int] = []
    node = document
    for token in jsonpointer.split(pointer):
        if isinstance(node, dict) and token in node:
            position.append(list(node).index(token))
            node = node[token]
        elif isinstance(node, list) and token.isdecimal() and int(token) < len(node):
            position.append(int(token))
            node = node[int(token)]
        else:
            break
    return position


def _inside_any(pointer: str, problems: list[Problem]) -> bool:
    return any(pointer == p.pointer or pointer.startswith(p.pointer + "/") for p in problems)


class _Compiler(ShapeReader):
    """Walks one document, collecting problems and building compiled parts where it can."""

    def __init__(self) -> None:
        super().__init__()
        self.outcome: Outcome = "deny"
        self.counters: dict[str, Limit] = {}

    # -- names -------------------------------------------------------------------------------

    def expect_name(self, value: object, pointer: str, what: str) -> str | None:
        """A tool or counter name: non-empty, no surrounding spaces, no control characters.

        Names match exactly, so " delete_pod" in ``hide`` would hide nothing: refuse it.
        """
        if not isinstance(value, str):
            self.problem(
                pointer,
                f"expected a {what} name (a string), found {type_name(value)} {render(value)}",
            )
            return None
        if not value:
            self.problem(pointer, f"expected a {what} name, found an empty string")
        elif value != value.strip():
            self.problem(pointer, f"{what} name {render(value)} has leading or trailing whitespace")
        elif any(not char.isprintable() for char in value):
            self.problem(pointer, f"{what} name {render(value)} contains control characters")
        elif len(value) > MAX_NAME_LENGTH:
            self.problem(
                pointer,
                f"{what} name is {len(value)} characters (expected at most {MAX_NAME_LENGTH})",
            )
        else:
            return value
        return None

    # -- the document --------------------------------------------------------------------------

    def policy(self, raw: object, name: str, version: int) -> CompiledPolicy | None:
        top = self.expect_object(raw, "", TOP_KEYS, required=("version", "default"))
        if top is None:
            return None
        if "version" in top and top["version"] != "1":
            self.problem("/version", f'found {render(top["version"])} (expected the string "1")')
        default = (
            self.expect_choice(top["default"], "/default", ("allow", "deny"))
            if "default" in top
            else None
        )
        mode = self.expect_choice(top.get("mode", "enforce"), "/mode", ("enforce", "shadow"))
        self.outcome = "would_deny" if mode == "shadow" else "deny"
        hidden, hide_all = self.hide(top.get("hide", []))
        all_tools_limits = self.all_tools(top.get("all_tools", {}))
        tools = self.tools(top.get("tools", {}), all_tools_limits)
        if self.problems or default is None or mode is None:
            return None
        return CompiledPolicy(
            name=name,
            version=version,
            default=cast(Literal["allow", "deny"], default),
            mode=cast(Literal["enforce", "shadow"], mode),
            hidden=hidden,
            hide_all=hide_all,
            tools=tools,
            all_tools_limits=all_tools_limits,
            document=raw,
            warnings=tuple(lint(raw, tools, all_tools_limits)),
            hidden_denial=Decision(self.outcome, HIDDEN, HIDDEN_MESSAGE),
            default_denial=Decision(self.outcome, DEFAULT_DENY, DEFAULT_DENY_MESSAGE),
            unlisted_allowed=Decision("allow", ALLOWED, limits=all_tools_limits),
        )

    def hide(self, value: object) -> tuple[frozenset[str], bool]:
        names = [
            self.expect_name(item, jsonpointer.join("/hide", index), "tool")
            for index, item in enumerate(self.expect_array(value, "/hide"))
        ]
        hidden = frozenset(n for n in names if n is not None)
        return hidden, "*" in hidden

    def all_tools(self, value: object) -> tuple[Limit, ...]:
        section = self.expect_object(value, "/all_tools", ALL_TOOLS_KEYS)
        if section is None:
            return ()
        return self.limits(section.get("limits", []), "/all_tools/limits", ())

    def tools(self, value: object, all_tools_limits: tuple[Limit, ...]) -> dict[str, ToolRules]:
        compiled: dict[str, ToolRules] = {}
        if not isinstance(value, dict):
            self.problem("/tools", f"expected an object, found {type_name(value)} {render(value)}")
            return compiled
        for tool, rules in cast(dict[str, object], value).items():
            pointer = jsonpointer.join("/tools", tool)
            if tool == "*":
                self.problem(pointer, STAR_IN_TOOLS)
                continue
            if self.expect_name(tool, pointer, "tool") is not None:
                built = self.tool(tool, rules, pointer, all_tools_limits)
                if built is not None:
                    compiled[tool] = built
        return compiled

    def tool(
        self, tool: str, value: object, pointer: str, all_tools_limits: tuple[Limit, ...]
    ) -> ToolRules | None:
        rules = self.expect_object(value, pointer, TOOL_KEYS)
        if rules is None:
            return None
        require = tuple(
            self.requirement(entry, jsonpointer.join(pointer, "require", index))
            for index, entry in enumerate(
                self.expect_array(rules.get("require", []), pointer + "/require")
            )
        )
        deny_if = tuple(
            self.prohibition(entry, jsonpointer.join(pointer, "deny_if", index))
            for index, entry in enumerate(
                self.expect_array(rules.get("deny_if", []), pointer + "/deny_if")
            )
        )
        own_limits = self.limits(rules.get("limits", []), pointer + "/limits", all_tools_limits)
        limits = own_limits + all_tools_limits
        if any(entry is None for entry in (*require, *deny_if)):
            return None
        entries = cast(tuple[Requirement | Prohibition, ...], (*require, *deny_if))
        return ToolRules(
            name=tool,
            require=cast(tuple[Requirement, ...], require),
            deny_if=cast(tuple[Prohibition, ...], deny_if),
            limits=limits,
            allowed=Decision("allow", ALLOWED, limits=limits),
            decodes=any(c.find is not None for entry in entries for c in entry.conditions),
        )

    # -- entries and conditions ------------------------------------------------------------------

    def entry(
        self, value: object, pointer: str, fallback: str
    ) -> tuple[tuple[Condition, ...], str] | None:
        entry = self.expect_object(value, pointer, ENTRY_KEYS, required=("conditions",))
        if entry is None:
            return None
        message = fallback
        if "on_deny" in entry:
            message = self.expect_text(entry["on_deny"], pointer + "/on_deny") or fallback
        items = self.expect_array(entry.get("conditions", []), pointer + "/conditions")
        conditions = [
            self.condition(item, jsonpointer.join(pointer, "conditions", i))
            for i, item in enumerate(items)
        ]
        if any(c is None for c in conditions):
            return None
        return cast(tuple[Condition, ...], tuple(conditions)), message

    def requirement(self, value: object, pointer: str) -> Requirement | None:
        built = self.entry(value, pointer, REQUIRE_MESSAGE)
        if built is None:
            return None
        conditions, message = built
        denials = tuple(Decision(self.outcome, c.pointer, message) for c in conditions)
        return Requirement(pointer, conditions, denials)

    def prohibition(self, value: object, pointer: str) -> Prohibition | None:
        built = self.entry(value, pointer, DENY_IF_MESSAGE)
        if built is None:
            return None
        conditions, message = built
        return Prohibition(pointer, conditions, Decision(self.outcome, pointer, message))

    def condition(self, value: object, pointer: str) -> Condition | None:
        condition = self.expect_object(
            value, pointer, CONDITION_KEYS, required=REQUIRED_CONDITION_KEYS
        )
        if condition is None or not all(key in condition for key in REQUIRED_CONDITION_KEYS):
            return None
        path_text, op_name, operand = condition["path"], condition["op"], condition["value"]
        path = self.path(path_text, pointer + "/path")
        match = self.match(condition, path, pointer + "/match")
        operator = OPERATORS.get(op_name) if isinstance(op_name, str) else None
        if operator is None:
            hint = did_you_mean(op_name, OPERATORS) if isinstance(op_name, str) else ""
            self.problem(
                pointer + "/op",
                f"unknown operator {render(op_name)} ({expected_one_of(OPERATORS)}{hint})",
            )
            return None
        if not operator.accepts(operand):
            self.problem(
                pointer + "/value",
                f'operator "{operator.name}" expects {operator.expects}, '
                f"found {type_name(operand)} {render(operand)}",
            )
            return None
        try:
            test = operator.build(operand)
        except ValueError as exc:
            self.problem(pointer + "/value", str(exc))
            return None
        if path is None or match is None:
            return None
        return _condition(pointer, path, operator.name, operand, test, match)

    def path(self, value: object, pointer: str) -> Path | None:
        if not isinstance(value, str):
            self.problem(pointer, f"expected a string, found {type_name(value)} {render(value)}")
            return None
        try:
            return parse_path(value)
        except PathError as exc:
            self.problem(pointer, str(exc))
            return None

    def match(self, condition: dict[str, object], path: Path | None, pointer: str) -> Match | None:
        """The condition's ``match``: "all" unless it says "any"; only for paths with ``*``."""
        if "match" not in condition:
            return "all"
        match = self.expect_choice(condition["match"], pointer, MATCHES)
        if path is not None and not path.has_star:
            self.problem(
                pointer,
                f'"match" applies only to a path with "*", and "{path.text}" finds at most one '
                'value (e.g. "args.spec.containers.*.image")',
            )
            return None
        return cast(Match | None, match)

    # -- limits -----------------------------------------------------------------------------------

    def limits(self, value: object, pointer: str, inherited: Iterable[Limit]) -> tuple[Limit, ...]:
        """The limits at ``pointer``; a counter appears once among them and ``inherited``."""
        applying = {limit.counter: limit for limit in inherited}
        built: list[Limit] = []
        for index, item in enumerate(self.expect_array(value, pointer)):
            limit = self.limit(item, jsonpointer.join(pointer, index))
            if limit is None:
                continue
            if limit.counter in applying:
                self.problem(
                    limit.pointer + "/counter",
                    f'counter "{limit.counter}" already applies to these calls at '
                    f"{applying[limit.counter].pointer} (expected each counter once per call)",
                )
                continue
            self.check_shared_counter(limit)
            applying[limit.counter] = limit
            built.append(limit)
        return tuple(built)

    def check_shared_counter(self, limit: Limit) -> None:
        """Two tools naming one counter share one budget: they must agree on how it's counted."""
        first = self.counters.setdefault(limit.counter, limit)
        for attribute in ("window", "scope"):
            mine, theirs = getattr(limit, attribute), getattr(first, attribute)
            if mine != theirs:
                self.problem(
                    f"{limit.pointer}/{attribute}",
                    f'counter "{limit.counter}" has {attribute} "{mine}" here but "{theirs}" at '
                    f"{first.pointer} (expected one {attribute} for a shared counter)",
                )

    def limit(self, value: object, pointer: str) -> Limit | None:
        limit = self.expect_object(
            value, pointer, LIMIT_KEYS, required=("counter", "max", "window")
        )
        if limit is None:
            return None
        counter = (
            self.expect_name(limit["counter"], pointer + "/counter", "counter")
            if "counter" in limit
            else None
        )
        maximum = self.maximum(limit["max"], pointer + "/max") if "max" in limit else None
        window = (
            self.expect_choice(limit["window"], pointer + "/window", tuple(WINDOW_SECONDS))
            if "window" in limit
            else None
        )
        scope = self.expect_choice(limit.get("scope", "grant"), pointer + "/scope", SCOPES)
        message = (
            self.expect_text(limit["on_deny"], pointer + "/on_deny") if "on_deny" in limit else None
        )
        if counter is None or maximum is None or window is None or scope is None:
            return None
        message = (
            message
            or f'Rate limit exceeded: counter "{counter}" allows {maximum} a {window} per {scope}.'
        )
        return Limit(
            pointer=pointer,
            counter=counter,
            max=maximum,
            window=cast(Window, window),
            scope=cast(Scope, scope),
            message=message,
            denial=Decision(self.outcome, pointer, message),
        )

    def maximum(self, value: object, pointer: str) -> int | None:
        whole = type(value) is int or (isinstance(value, float) and value.is_integer())
        if not whole or not 0 <= cast(float, value) <= MAX_LIMIT:
            self.problem(
                pointer, f"found {render(value)} (expected a whole number from 0 to {MAX_LIMIT})"
            )
            return None
        return int(cast(float, value))


def _condition(
    pointer: str, path: Path, op: str, value: object, test: Predicate, match: Match
) -> Condition:
    """A compiled condition: the plain one-lookup resolver unless the path looks inside."""
    if not path.looks_inside:
        return Condition(pointer, path.text, op, value, make_resolver(path.keys), test)
    find = make_finder(path)
    if path.decoders:

        def resolve(args: object) -> object:
            return find(args, Decoded())  # on its own, a condition decodes for itself

    else:

        def resolve(args: object) -> object:
            return find(args, _NOTHING_DECODED)  # never written to: nothing to decode

    return Condition(
        pointer,
        path.text,
        op,
        value,
        resolve,
        matching(test, every=match == "all") if path.has_star else test,
        match if path.has_star else None,
        find if path.decoders else None,
    )


_NOTHING_DECODED = Decoded()

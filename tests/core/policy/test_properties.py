"""Property tests for the policy engine, written from DESIGN §3 (the policy language).

(a) `evaluate` never raises, for any JSON arguments, and its decision always has a shape the spec
    allows (a rule pointer that resolves in the policy and names the called tool, its on_deny, the
    limits of an allowed call in order);
(b) `compile_policy` of arbitrary JSON, and of valid policies with random damage, either succeeds or
    raises `PolicyError` with well-formed problems, nothing else;
(c) under the seed's policy, the namespaced tools are allowed exactly for dev, staging and sandbox;
(d) decisions are deterministic, independent of object key order, do not touch the arguments, and
    shadow mode changes `deny` into `would_deny` and nothing else;
(e) the operators agree with each other (eq / neq / in / not_in / exists / lt… / contains / regex);
(f) looking inside arguments: a manifest rule over `|yaml_all.*` allows exactly when every document's
    namespace is allowed, whatever the documents' YAML style, and what cannot be read is denied with
    the pointer of a condition that decodes; every decoder reads or refuses any text, numbers of
    any length included, and never raises anything else.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
import string
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from mcpwall.core.errors import UnreadableValue
from mcpwall.core.policy import Decision, PolicyError, compile_policy, evaluate, load_policy
from mcpwall.core.policy.decoders import DECODERS

CASES_DIR = Path(__file__).resolve().parent / "cases"
SPECIAL_RULES = {"(no policy)", "(hidden)", "(default deny)", "(allowed)"}
MAX_SAFE = 2**53 - 1

# ---------------------------------------------------------------------------------------------
# The policies under test: the golden-case policies, read as plain JSON (no engine involved).

POLICY_FILES = (
    "seed",
    "operators",
    "paths",
    "rules",
    "limits",
    "all-tools-zero",
    "default-deny",
    "hide",
    "hide-all",
    "shadow",
    "escaping",
    "design-example",
    "wildcards",
    "decoders",
    "kubernetes-manifests",
)


def _read_policy(stem: str) -> dict[str, object]:
    raw = json.loads((CASES_DIR / f"{stem}.policy.json").read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


POLICIES: dict[str, dict[str, object]] = {stem: _read_policy(stem) for stem in POLICY_FILES}
PER_POLICY = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # each of these runs once per policy file
SEED = POLICIES["seed"]
NAMESPACED = ("delete_pod", "scale_deployment", "delete_deployment", "exec_pod")
ALLOWED_NAMESPACES = ("dev", "staging", "sandbox")
SEED_HIDDEN = ("delete_namespace", "get_secret", "apply_cluster_role", "delete_cluster_role")
CLUSTER_KINDS = ("Namespace", "ClusterRole", "ClusterRoleBinding")
NAMESPACE_MESSAGE = "Namespace is outside the allowed non-production set."
MANIFEST_MESSAGE = "Manifest applies are limited to non-production namespaced resources."


def _object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _array(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _tools(raw: dict[str, object]) -> dict[str, object]:
    return _object(raw.get("tools"))


def _hidden(raw: dict[str, object]) -> list[str]:
    return [name for name in _array(raw.get("hide")) if isinstance(name, str)]


def _tool_names(raw: dict[str, object]) -> list[str]:
    return sorted({*_tools(raw), *_hidden(raw)} - {"*"})


def _walk_strings(value: object) -> Iterator[tuple[str, object]]:
    """Every (key, value) pair of every object inside `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item)


def _path_segments() -> list[str]:
    """Every segment of every condition path in the policies, so random args hit them often."""
    segments: set[str] = set()
    for raw in POLICIES.values():
        for key, value in _walk_strings(raw):
            if key == "path" and isinstance(value, str) and value.startswith("args."):
                parts = (part.partition("|")[0] for part in value[len("args.") :].split("."))
                segments.update(part for part in parts if part != "*")
    return sorted(segments)


SEGMENTS = _path_segments()

# ---------------------------------------------------------------------------------------------
# Strategies.

INTERESTING_STRINGS = (
    "dev",
    "staging",
    "sandbox",
    "Staging",
    " staging",
    "staging ",
    "staging\n",
    "payments-prod",
    "",
    "ClusterRole",
    "Namespace",
    "Deployment",
    "1",
    "true",
    "null",
    "a",
    "a\n",
    "é",
    "e\u0301",
    "😀",
    "\u0663",
    "\u00a0",
    "a" * 40 + "!",
    "dev-api",
    "nginx:1.27",
    "OPS-42",
    "\ud800",
    "x\u0000y",
    # Text the decoders read (and fail to read): YAML streams, JSON, shell words.
    "kind: ConfigMap\nmetadata: {namespace: dev}\n",
    "kind: ClusterRole\nmetadata: {namespace: staging}\n---\nkind: Pod\n",
    "mode: safe\nlevel: 2\n",
    "a: &x 1\nb: *x\n",
    "a: 1\na: 2\n",
    "mode: yes",
    '{"tenant": "acme", "$and": [{"field": "name"}]}',
    '{"owner": "me"}',
    "ls -la /tmp",
    "git push --force",
    'kubectl patch \'{"spec": {"replicas": 3}}\'',
    "ls; rm -rf /",
    "[[[[",
)
INTERESTING_NUMBERS: tuple[object, ...] = (
    0,
    -0.0,
    1,
    1.0,
    -1,
    5,
    5.0,
    4.999,
    2.5,
    -1.5,
    100,
    MAX_SAFE,
    MAX_SAFE + 1,
    -MAX_SAFE,
    10**30,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
)

texts: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(INTERESTING_STRINGS),
    st.text(max_size=12),
    # Lone surrogates are legal JSON text ("\ud800") and Python's json module produces them.
    st.text(st.characters(categories=["Cs"]) | st.characters(), max_size=6),
)
keys: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(SEGMENTS), st.sampled_from(INTERESTING_STRINGS), st.text(max_size=6)
)
json_scalars: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(INTERESTING_NUMBERS),
    texts,
)


def _extend(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4))


json_values: st.SearchStrategy[object] = st.recursive(json_scalars, _extend, max_leaves=16)
args_objects: st.SearchStrategy[object] = st.dictionaries(keys, json_values, max_size=6)
# Mostly objects, as MCP sends; sometimes any JSON at all.
any_args: st.SearchStrategy[object] = st.one_of(args_objects, args_objects, json_values)


def tool_names(raw: dict[str, object]) -> st.SearchStrategy[str]:
    names = _tool_names(raw)
    listed: st.SearchStrategy[str] = st.sampled_from(names) if names else st.just("tool")
    return st.one_of(listed, listed, st.text(max_size=12))


def calls(raw: dict[str, object]) -> st.SearchStrategy[list[tuple[str, object]]]:
    return st.lists(st.tuples(tool_names(raw), any_args), min_size=1, max_size=8)


# ---------------------------------------------------------------------------------------------
# Spec-level checks of a single decision.

POINTER_SHAPES = (
    re.compile(r"/tools/(?P<tool>[^/]*)/require/(?P<entry>\d+)/conditions/\d+"),
    # Only a value that cannot be read names a deny_if's condition (see check_decision).
    re.compile(r"/tools/(?P<tool>[^/]*)/deny_if/(?P<entry>\d+)/conditions/\d+"),
    re.compile(r"/tools/(?P<tool>[^/]*)/deny_if/(?P<entry>\d+)"),
    re.compile(r"/tools/(?P<tool>[^/]*)/limits/\d+"),
    re.compile(r"/all_tools/limits/\d+"),
)


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve(document: object, pointer: str) -> tuple[bool, object]:
    """RFC 6901: (found, value)."""
    if pointer == "":
        return True, document
    if not pointer.startswith("/"):
        return False, None
    node = document
    for raw_token in pointer[1:].split("/"):
        token = unescape(raw_token)
        if isinstance(node, dict):
            if token not in node:
                return False, None
            node = node[token]
        elif isinstance(node, list):
            canonical = token == "0" or (token[:1] in "123456789" and token.isdecimal())
            if not (token.isascii() and canonical) or int(token) >= len(node):
                return False, None
            node = node[int(token)]
        else:
            return False, None
    return True, node


def expected_limit_pointers(raw: dict[str, object], tool: str) -> list[str]:
    own = _array(_object(_tools(raw).get(tool)).get("limits"))
    shared = _array(_object(raw.get("all_tools")).get("limits"))
    return [f"/tools/{escape(tool)}/limits/{i}" for i in range(len(own))] + [
        f"/all_tools/limits/{i}" for i in range(len(shared))
    ]


def check_decision(raw: dict[str, object], tool: str, decision: Decision) -> None:
    """What DESIGN §3 says about any decision, whatever the arguments were."""
    shadow = raw.get("mode") == "shadow"
    refused = "would_deny" if shadow else "deny"
    assert decision.decision in ("allow", refused), decision
    assert isinstance(decision.rule, str)
    assert isinstance(decision.message, str)
    hidden = _hidden(raw)
    is_hidden = tool in hidden or "*" in hidden
    listed = tool in _tools(raw)

    if decision.decision == "allow":
        assert decision.rule == "(allowed)", decision
        assert decision.message == ""
        assert not is_hidden
        assert listed or raw.get("default") == "allow"
        pointers = [limit.pointer for limit in decision.limits]
        assert pointers == expected_limit_pointers(raw, tool), decision
        for limit in decision.limits:
            found, node = resolve(raw, limit.pointer)
            assert found, limit
            assert _object(node).get("counter") == limit.counter, limit
        return

    if decision.rule == "(hidden)":
        assert is_hidden, decision
        return
    assert not is_hidden, f"a hidden tool must be refused as (hidden): {decision}"
    if decision.rule == "(default deny)":
        assert raw.get("default") == "deny", decision
        assert not listed, decision
        return
    assert decision.rule not in SPECIAL_RULES, decision
    shape = next(
        (s.fullmatch(decision.rule) for s in POINTER_SHAPES if s.fullmatch(decision.rule)), None
    )
    assert shape is not None, f"not a rule pointer DESIGN §3 allows: {decision.rule!r}"
    found, node = resolve(raw, decision.rule)
    assert found, f"the rule pointer must resolve in the policy: {decision.rule!r}"
    if "tool" in shape.groupdict():
        assert unescape(shape["tool"]) == tool, f"the pointer names another tool: {decision}"
    if decision.message.startswith('argument "') and " could not be read as " in decision.message:
        # DESIGN §3: denied with the pointer of the condition whose decoder met it.
        assert "/conditions/" in decision.rule, decision
        assert "|" in str(_object(node).get("path")), decision
        return
    assert "/deny_if/" not in decision.rule or "/conditions/" not in decision.rule, decision
    if "/require/" in decision.rule:
        assert {"path", "op", "value"} <= set(_object(node)), decision
        entry_pointer = decision.rule.rsplit("/conditions/", 1)[0]
        entry = _object(resolve(raw, entry_pointer)[1])
    else:
        entry = _object(node)
    if "/limits/" in decision.rule:
        assert "counter" in entry, decision
    if isinstance(entry.get("on_deny"), str):
        assert decision.message == entry["on_deny"], decision


def check_problems(error: PolicyError) -> None:
    problems = error.problems
    assert isinstance(problems, tuple)
    assert problems, "a PolicyError names at least one problem"
    for problem in problems:
        assert isinstance(problem.pointer, str)
        assert problem.pointer == "" or problem.pointer.startswith("/"), problem
        assert isinstance(problem.message, str)
        assert problem.message, problem
        assert str(problem) == f"{problem.pointer or '(root)'}: {problem.message}"


# ---------------------------------------------------------------------------------------------
# (a) evaluate never raises, and every decision has a shape the spec allows.


@pytest.mark.parametrize("stem", POLICY_FILES)
@PER_POLICY
@given(data=st.data())
def test_evaluate_never_raises_and_decisions_are_well_formed(
    stem: str, data: st.DataObject
) -> None:
    raw = POLICIES[stem]
    compiled = compile_policy(raw, name=stem, version=1)
    for tool, args in data.draw(calls(raw), label="calls"):
        decision = evaluate(compiled, tool, args)
        check_decision(raw, tool, decision)


@settings(deadline=None)
@given(tool=st.text(max_size=8) | st.sampled_from(["delete_pod", "apply_manifest"]), args=any_args)
def test_evaluate_never_raises_for_the_seed_policy_loaded_from_text(
    tool: str, args: object
) -> None:
    path = CASES_DIR / "seed.policy.json"
    compiled = compile_policy(load_policy(path.read_bytes(), source=str(path)), name="seed")
    check_decision(SEED, tool, evaluate(compiled, tool, args))


# ---------------------------------------------------------------------------------------------
# (b) compile_policy: a policy or a PolicyError, never anything else.

SCHEMA_KEYS = (
    "version", "default", "mode", "hide", "all_tools", "tools", "require", "deny_if", "limits",
    "conditions", "on_deny", "path", "op", "value", "match", "counter", "max", "window", "scope",
    "deney_if", "limit", "condition", "",
)  # fmt: skip
SCHEMA_VALUES: tuple[object, ...] = (
    "1", 1, "2", "allow", "deny", "enforce", "shadow", "*", "eq", "neq", "lt", "lte", "gt", "gte",
    "in", "not_in", "exists", "regex", "contains", "in_list", "args.namespace", "args..x",
    "args.manifest|yaml_all.*.kind", "args.m|yml", "args.a*", "args.c|shell.0.x", "all", "any",
    "namespace", "(a)\\1", "^dev-", "second", "minute", "hour", "day", "week", "grant",
    "upstream", "global", 0, -1, 2.5, MAX_SAFE, MAX_SAFE + 1, 1e300, math.inf, True, None,
    [], {}, [1], ["dev"], {"conditions": []},
)  # fmt: skip
policy_values: st.SearchStrategy[object] = st.one_of(st.sampled_from(SCHEMA_VALUES), json_values)
policy_keys: st.SearchStrategy[str] = st.one_of(st.sampled_from(SCHEMA_KEYS), keys)

Location = tuple[object, ...]


def _locations(value: object, here: Location = ()) -> Iterator[Location]:
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _locations(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _locations(item, (*here, index))


def _parent(document: object, location: Location) -> object:
    node = document
    for step in location[:-1]:
        if isinstance(node, list) and isinstance(step, int):
            node = node[step]
            continue
        if isinstance(node, dict) and isinstance(step, str):
            node = node[step]
    return node


def _typo(word: str, data: st.DataObject) -> str:
    if not word:
        return "x"
    i = data.draw(st.integers(0, len(word) - 1), label="typo at")
    edits: list[Callable[[], str]] = [
        lambda: word[:i] + word[i + 1 :],
        lambda: word[:i] + word[i] + word[i:],
        lambda: word[:i] + word[i].upper() + word[i + 1 :],
        lambda: word + " ",
    ]
    return data.draw(st.sampled_from(edits), label="edit")()


def mutate(document: object, data: st.DataObject) -> object:
    """Damage one spot of a JSON document: delete, replace, insert, or misspell a key."""
    document = copy.deepcopy(document)
    location = data.draw(st.sampled_from(list(_locations(document))), label="location")
    action = data.draw(st.sampled_from(["delete", "replace", "insert", "rename"]), label="action")
    if not location:
        if action == "replace":
            return data.draw(policy_values, label="new document")
        if isinstance(document, dict) and action == "insert":
            document[data.draw(policy_keys, label="key")] = data.draw(policy_values, label="value")
        return document
    parent = _parent(document, location)
    step = location[-1]
    if isinstance(parent, dict) and isinstance(step, str):
        if action == "delete":
            del parent[step]
        elif action == "replace":
            parent[step] = data.draw(policy_values, label="value")
        elif action == "insert":
            parent[data.draw(policy_keys, label="key")] = data.draw(policy_values, label="value")
        else:
            parent[_typo(step, data)] = parent.pop(step)
    elif isinstance(parent, list) and isinstance(step, int):
        if action == "delete":
            del parent[step]
        elif action == "replace":
            parent[step] = data.draw(policy_values, label="value")
        else:
            parent.insert(step, data.draw(policy_values, label="value"))
    return document


def compile_or_policy_error(raw: object) -> bool:
    """True when it compiled. Anything other than PolicyError propagates and fails the test."""
    try:
        compile_policy(raw, name="fuzz", version=1)
    except PolicyError as error:
        check_problems(error)
        return False
    return True


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=json_values)
def test_compile_arbitrary_json_succeeds_or_raises_policy_error(raw: object) -> None:
    compile_or_policy_error(raw)


@pytest.mark.parametrize(
    "stem", ["seed", "operators", "rules", "limits", "shadow", "escaping", "wildcards", "decoders"]
)
@PER_POLICY
@given(data=st.data())
def test_compile_damaged_policies_succeeds_or_raises_policy_error(
    stem: str, data: st.DataObject
) -> None:
    raw: object = POLICIES[stem]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        raw = mutate(raw, data)
    if compile_or_policy_error(raw):
        # Whatever compiled must also evaluate without raising.
        compiled = compile_policy(raw, name="fuzz", version=1)
        for tool, args in data.draw(calls(_object(raw)), label="calls"):
            decision = evaluate(compiled, tool, args)
            assert decision.decision in ("allow", "deny", "would_deny")


@pytest.mark.parametrize("stem", ["seed", "operators", "rules", "limits", "design-example"])
@PER_POLICY
@given(data=st.data())
def test_problem_pointers_resolve_in_the_damaged_document(stem: str, data: st.DataObject) -> None:
    """A problem points at something that is there: the bad member itself, or for a missing
    required key the object that lacks it (never at the absent key)."""
    raw = mutate(POLICIES[stem], data)
    try:
        compile_policy(raw, name="fuzz", version=1)
    except PolicyError as error:
        for problem in error.problems:
            assert resolve(raw, problem.pointer)[0], f"{problem} does not resolve"


@settings(deadline=None)
@given(raw=json_values.filter(lambda v: not isinstance(v, dict)))
def test_a_document_that_is_not_an_object_is_refused_at_the_root(raw: object) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(raw)
    assert "" in [problem.pointer for problem in caught.value.problems]


@settings(deadline=None)
@given(text=st.text(max_size=40) | st.binary(max_size=40))
def test_load_policy_returns_a_value_or_raises_policy_error(text: str | bytes) -> None:
    try:
        raw = load_policy(text, source="fuzz")
    except PolicyError as error:
        check_problems(error)
        return
    compile_or_policy_error(raw)


# ---------------------------------------------------------------------------------------------
# (c) the seed's policy: allowed exactly in dev, staging and sandbox.

namespaces: st.SearchStrategy[object] = st.one_of(
    st.sampled_from(ALLOWED_NAMESPACES),
    st.sampled_from(
        ("Dev", "STAGING", " staging", "sandbox ", "staging\n", "payments-prod", "default", "")
    ),
    st.sampled_from((None, 0, True, ["dev"], {"name": "dev"}, "dev|staging")),
    json_values,
)
MISSING = object()


def seed_args(extra: dict[str, object], namespace: object, kind: object) -> dict[str, object]:
    args = dict(extra)
    args.pop("namespace", None)
    args.pop("kind", None)
    if namespace is not MISSING:
        args["namespace"] = namespace
    if kind is not MISSING:
        args["kind"] = kind
    return args


def in_allowed_namespace(args: dict[str, object]) -> bool:
    namespace = args.get("namespace", MISSING)
    return isinstance(namespace, str) and namespace in ALLOWED_NAMESPACES


@settings(deadline=None)
@given(
    tool=st.sampled_from(NAMESPACED),
    extra=st.dictionaries(keys, json_values, max_size=4),
    namespace=namespaces | st.just(MISSING),
)
def test_seed_namespaced_tools_allowed_exactly_in_the_three_namespaces(
    tool: str, extra: dict[str, object], namespace: object
) -> None:
    compiled = compile_policy(SEED, name="seed")
    args = seed_args(extra, namespace, MISSING)
    decision = evaluate(compiled, tool, args)
    if in_allowed_namespace(args):
        assert (decision.decision, decision.rule, decision.message) == ("allow", "(allowed)", "")
        expected = ("delete_pod",) if tool == "delete_pod" else ()
        assert tuple(limit.counter for limit in decision.limits) == expected
    else:
        assert decision.decision == "deny"
        assert decision.rule == f"/tools/{tool}/require/0/conditions/0"
        assert decision.message == NAMESPACE_MESSAGE


@settings(deadline=None)
@given(
    extra=st.dictionaries(keys, json_values, max_size=4),
    namespace=namespaces | st.just(MISSING),
    kind=st.sampled_from((*CLUSTER_KINDS, "Deployment", "clusterrole", None))
    | json_values
    | st.just(MISSING),
)
def test_seed_apply_manifest_needs_namespace_then_a_namespaced_kind(
    extra: dict[str, object], namespace: object, kind: object
) -> None:
    compiled = compile_policy(SEED, name="seed")
    args = seed_args(extra, namespace, kind)
    decision = evaluate(compiled, "apply_manifest", args)
    kind_ok = kind is not MISSING and not (isinstance(kind, str) and kind in CLUSTER_KINDS)
    if not in_allowed_namespace(args):
        expected = ("deny", "/tools/apply_manifest/require/0/conditions/0", MANIFEST_MESSAGE)
    elif not kind_ok:
        expected = ("deny", "/tools/apply_manifest/require/0/conditions/1", MANIFEST_MESSAGE)
    else:
        expected = ("allow", "(allowed)", "")
    assert (decision.decision, decision.rule, decision.message) == expected


@settings(deadline=None)
@given(tool=st.sampled_from(SEED_HIDDEN) | st.text(max_size=12), args=any_args)
def test_seed_hidden_tools_are_hidden_and_unlisted_tools_allowed(tool: str, args: object) -> None:
    compiled = compile_policy(SEED, name="seed")
    assume(tool not in _tools(SEED))
    decision = evaluate(compiled, tool, args)
    if tool in SEED_HIDDEN:
        assert (decision.decision, decision.rule) == ("deny", "(hidden)")
    else:
        assert (decision.decision, decision.rule, decision.message) == ("allow", "(allowed)", "")
        assert decision.limits == ()


# ---------------------------------------------------------------------------------------------
# (d) determinism, key order, no mutation of the arguments, shadow mode.


def summary(decision: Decision) -> tuple[object, ...]:
    limits = tuple((limit.counter, limit.pointer) for limit in decision.limits)
    return (decision.decision, decision.rule, decision.message, limits)


def shuffled(value: object, data: st.DataObject) -> object:
    """The same JSON value with every object's keys in a random order."""
    if isinstance(value, dict):
        order = data.draw(st.permutations(list(value)), label="key order")
        return {key: shuffled(value[key], data) for key in order}
    if isinstance(value, list):
        return [shuffled(item, data) for item in value]
    return value


@pytest.mark.parametrize("stem", POLICY_FILES)
@PER_POLICY
@given(data=st.data())
def test_decisions_are_deterministic_and_do_not_touch_args(stem: str, data: st.DataObject) -> None:
    raw = POLICIES[stem]
    first = compile_policy(raw, name=stem, version=1)
    second = compile_policy(copy.deepcopy(raw), name=stem, version=1)
    reordered = compile_policy(shuffled(raw, data), name=stem, version=1)
    for tool, args in data.draw(calls(raw), label="calls"):
        before = copy.deepcopy(args)
        decision = summary(evaluate(first, tool, args))
        assert summary(evaluate(first, tool, args)) == decision
        assert summary(evaluate(second, tool, args)) == decision
        assert summary(evaluate(reordered, tool, args)) == decision
        assert summary(evaluate(first, tool, shuffled(args, data))) == decision
        assert repr(args) == repr(before), "evaluate must not modify the arguments"


@pytest.mark.parametrize("stem", POLICY_FILES)
@PER_POLICY
@given(data=st.data())
def test_shadow_mode_turns_deny_into_would_deny_and_changes_nothing_else(
    stem: str, data: st.DataObject
) -> None:
    raw = POLICIES[stem]
    enforce = compile_policy({**raw, "mode": "enforce"}, name=stem)
    default_mode = compile_policy({k: v for k, v in raw.items() if k != "mode"}, name=stem)
    shadow = compile_policy({**raw, "mode": "shadow"}, name=stem)
    for tool, args in data.draw(calls(raw), label="calls"):
        enforced = evaluate(enforce, tool, args)
        shadowed = evaluate(shadow, tool, args)
        assert summary(evaluate(default_mode, tool, args)) == summary(enforced)
        assert enforced.decision in ("allow", "deny")
        assert shadowed.decision in ("allow", "would_deny")
        if enforced.decision == "deny":
            assert shadowed.decision == "would_deny"
            assert (shadowed.rule, shadowed.message) == (enforced.rule, enforced.message)
        else:
            assert summary(shadowed) == summary(enforced)


# ---------------------------------------------------------------------------------------------
# (e) the operators agree with each other and with their one-line definitions.

safe_numbers: st.SearchStrategy[object] = st.one_of(
    st.integers(-MAX_SAFE, MAX_SAFE),
    st.floats(-MAX_SAFE, MAX_SAFE, allow_nan=False),
    st.sampled_from((0, -0.0, 1, 1.0, 5, 5.0, -1.5)),
)
policy_scalars: st.SearchStrategy[object] = st.one_of(
    st.none(), st.booleans(), safe_numbers, st.text(max_size=6), st.sampled_from(("", "1", "a"))
)
policy_json: st.SearchStrategy[object] = st.recursive(
    policy_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
OPERATOR_TOOLS = (
    "eq", "neq", "in", "not_in", "exists_true", "exists_false", "contains",
    "lt", "lte", "gt", "gte",
)  # fmt: skip


def operator_policy(value: object) -> dict[str, object]:
    def require(op: str, operand: object) -> dict[str, object]:
        condition = {"path": "args.v", "op": op, "value": operand}
        return {"require": [{"conditions": [condition], "on_deny": op}]}

    tools = {
        "eq": require("eq", value),
        "neq": require("neq", value),
        "in": require("in", [value]),
        "not_in": require("not_in", [value]),
        "exists_true": require("exists", True),
        "exists_false": require("exists", False),
        "contains": require("contains", value),
    }
    if is_number(value):
        for op in ("lt", "lte", "gt", "gte"):
            tools[op] = require(op, value)
    return {"version": "1", "default": "deny", "tools": tools}


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def holding(value: object, args: object) -> dict[str, bool]:
    compiled = compile_policy(operator_policy(value), name="operators")
    result: dict[str, bool] = {}
    for tool in OPERATOR_TOOLS:
        if tool in ("lt", "lte", "gt", "gte") and not is_number(value):
            continue
        decision = evaluate(compiled, tool, args)
        if decision.decision == "allow":
            result[tool] = True
        else:
            assert decision.rule == f"/tools/{tool}/require/0/conditions/0", decision
            result[tool] = False
    return result


def same_number_as_float(value: object) -> object:
    """`value` with every integer written as a float, where that is exact (1 equals 1.0)."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return float(value) if abs(value) <= MAX_SAFE else value
    if isinstance(value, list):
        return [same_number_as_float(item) for item in value]
    if isinstance(value, dict):
        return {key: same_number_as_float(item) for key, item in value.items()}
    return value


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=policy_json, other=policy_json | st.just(MISSING))
def test_operators_agree_with_each_other(value: object, other: object) -> None:
    args: dict[str, object] = {} if other is MISSING else {"v": other}
    held = holding(value, args)
    if other is MISSING:
        # A missing path makes every condition false except exists: false.
        assert held == {tool: tool == "exists_false" for tool in held}
        return
    assert held["exists_true"]
    assert not held["exists_false"]
    assert held["eq"] != held["neq"], "neq is the negation of eq on a present path"
    assert held["in"] == held["eq"], "membership in [value] is equality with value"
    assert held["not_in"] == held["neq"]
    if isinstance(other, list):
        assert held["contains"] == any(holding(value, {"v": item})["eq"] for item in other)
    elif isinstance(other, str):
        assert held["contains"] == (isinstance(value, str) and value in other)
    else:
        assert not held["contains"], "only strings and arrays contain anything"
    if is_number(value):
        if is_number(other):
            assert isinstance(other, int | float)
            assert isinstance(value, int | float)
            assert held["lt"] == (other < value)
            assert held["lte"] == (other <= value)
            assert held["gt"] == (other > value)
            assert held["gte"] == (other >= value)
        else:
            assert not any(held[op] for op in ("lt", "lte", "gt", "gte")), "numbers only"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=policy_json)
def test_eq_is_reflexive_and_numbers_compare_by_value(value: object) -> None:
    assert holding(value, {"v": copy.deepcopy(value)})["eq"]
    assert holding(value, {"v": same_number_as_float(value)})["eq"]
    assert holding(value, {"v": [0, copy.deepcopy(value)]})["contains"]


@settings(deadline=None)
@given(number=st.integers(-1000, 1000))
def test_booleans_and_numeric_strings_are_not_numbers(number: int) -> None:
    for candidate in (True, False, str(number)):
        held = holding(number, {"v": candidate})
        assert not any(held[op] for op in ("eq", "lt", "lte", "gt", "gte", "in")), candidate
        assert held["neq"]
        assert held["not_in"]


def literal(text: str) -> str:
    """An RE2 pattern matching `text` literally (only ASCII punctuation needs a backslash)."""
    return "".join("\\" + char if char in string.punctuation else char for char in text)


def regex_holds(pattern: str, subject: object) -> bool:
    condition = {"path": "args.v", "op": "regex", "value": pattern}
    policy = {
        "version": "1",
        "default": "deny",
        "tools": {"r": {"require": [{"conditions": [condition], "on_deny": "no"}]}},
    }
    decision = evaluate(compile_policy(policy, name="regex"), "r", {"v": subject})
    return decision.decision == "allow"


@settings(deadline=None)
@given(
    word=st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\n"), min_size=1, max_size=8
    ),
    before=st.text(max_size=4),
    after=st.text(max_size=4),
)
def test_regex_is_an_unanchored_search_and_dollar_is_the_end_of_text(
    word: str, before: str, after: str
) -> None:
    assert regex_holds(literal(word), before + word + after), "unanchored: matches anywhere"
    assert regex_holds("^" + literal(word) + "$", word)
    assert not regex_holds("^" + literal(word) + "$", word + "\n"), "$ is the end of the text"
    assert not regex_holds(literal(word), list(word)), "regex holds only for strings"


# ---------------------------------------------------------------------------------------------
# (f) Looking inside arguments: the manifest rule over any stream of documents.

ALLOWED_SET = ("dev", "staging", "sandbox")
# Namespaces a document may carry; ABSENT means no metadata.namespace at all.
ABSENT = object()
NAMESPACES: tuple[object, ...] = (
    *ALLOWED_SET, "prod", "payments-prod", "Staging", "staging ", "", "dev-1", "no", "null", ABSENT,
)  # fmt: skip
MANIFEST_RULE = compile_policy(
    {
        "version": "1",
        "default": "deny",
        "tools": {
            "kubectl_apply": {
                "require": [
                    {
                        "conditions": [
                            {
                                "path": "args.manifest|yaml_all.*.metadata.namespace",
                                "op": "in",
                                "value": list(ALLOWED_SET),
                            }
                        ]
                    }
                ]
            }
        },
    },
    name="manifest-rule",
)
KUBERNETES = compile_policy(POLICIES["kubernetes-manifests"], name="kubernetes-manifests")


def _scalar(text: str, style: str) -> str:
    if style == "double" or text in ("", "staging "):  # these need quotes to be themselves
        return json.dumps(text)
    return f"'{text}'" if style == "single" else text


def render_document(namespace: object, style: str, quoting: str, index: int) -> str:
    """One ConfigMap, in one of YAML's styles (block, flow, JSON), its namespace quoted or not."""
    name = f"flags-{index}"
    if style == "json":
        metadata: dict[str, object] = {"name": name}
        if namespace is not ABSENT:
            metadata["namespace"] = namespace
        return json.dumps({"kind": "ConfigMap", "metadata": metadata}) + "\n"
    ns = "" if namespace is ABSENT else _scalar(str(namespace), quoting)
    if style == "flow":
        inner = f"name: {name}" + ("" if namespace is ABSENT else f", namespace: {ns}")
        return f"{{kind: ConfigMap, metadata: {{{inner}}}}}\n"
    lines = ["kind: ConfigMap", "metadata:", f"  name: {name}  # a comment"]
    if namespace is not ABSENT:
        lines.append(f"  namespace: {ns}")
    return "\n".join(lines) + "\n"


document_specs = st.lists(
    st.tuples(
        st.sampled_from(NAMESPACES),
        st.sampled_from(["block", "flow", "json"]),
        st.sampled_from(["plain", "single", "double"]),
    ),
    max_size=6,
)


def render_stream(specs: list[tuple[object, str, str]], data: st.DataObject) -> str:
    parts = ["---\n"] if data.draw(st.booleans(), label="leading ---") else []
    for index, (namespace, style, quoting) in enumerate(specs):
        if index:
            parts.append("---\n")
            if data.draw(st.booleans(), label="an empty document before"):
                parts.append("# nothing in this one\n---\n")
        parts.append(render_document(namespace, style, quoting, index))
    if data.draw(st.booleans(), label="trailing separator"):
        parts.append(data.draw(st.sampled_from(["---\n", "...\n", "---\n# end\n"])))
    return "".join(parts)


def plain_reading(namespace: object, quoting: str, style: str) -> object:
    """What the namespace is as text: plain `no` and `null` are not the strings "no", "null"."""
    if namespace in ("no", "null") and quoting == "plain" and style != "json":
        return None
    return namespace


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=document_specs, data=st.data())
def test_the_manifest_rule_allows_exactly_when_every_documents_namespace_is_allowed(
    specs: list[tuple[object, str, str]], data: st.DataObject
) -> None:
    manifest = render_stream(specs, data)
    readings = [plain_reading(namespace, quoting, style) for namespace, style, quoting in specs]
    every_allowed = bool(specs) and all(reading in ALLOWED_SET for reading in readings)
    decision = evaluate(MANIFEST_RULE, "kubectl_apply", {"manifest": manifest})
    assert (decision.decision == "allow") == every_allowed, (manifest, decision)
    if decision.decision == "deny":
        assert decision.rule == "/tools/kubectl_apply/require/0/conditions/0"
    # The example policy for mcp-server-kubernetes agrees (its other rules hold here).
    args = {"namespace": "staging", "manifest": manifest}
    assert (evaluate(KUBERNETES, "kubectl_apply", args).decision == "allow") == every_allowed


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    manifest=st.one_of(
        st.text(max_size=80),
        st.text(alphabet="-:{}[]&*!|>'\"#%@` \n\tkindmetaspc0123yesno.~<=,?", max_size=80),
    ),
    namespace=st.sampled_from(["staging", "prod"]),
)
def test_any_text_as_a_manifest_is_decided_never_raised(manifest: str, namespace: str) -> None:
    """Whatever an agent sends as a manifest, the policy decides: allow, or deny naming why."""
    decision = evaluate(KUBERNETES, "kubectl_apply", {"namespace": namespace, "manifest": manifest})
    check_decision(POLICIES["kubernetes-manifests"], "kubectl_apply", decision)


# Each decoder, and a tool of decoders.policy.json whose one argument it reads.
DECODING_TOOLS = {"json": ("find", "filter"), "yaml": ("configure", "config")}
DECODING_TOOLS |= {"yaml_all": ("apply", "manifest"), "shell": ("run", "command")}
# Numbers of any length in the forms either YAML schema or JSON reads: past Python's limit on the
# digits of an integer, past a float's range, long YAML 1.1 base-60.
numerals = st.builds(
    lambda sign, unit, count: sign + unit * count,
    st.sampled_from(["", "-", "+", "0x", "0o", "0b", "0", "1.", "1"]),
    st.sampled_from(["1", "9", "7", "f", ":59", "_1", "5e5"]),
    st.integers(1, 6_000),
)
decodable_texts = st.one_of(
    st.text(max_size=100),
    st.text(alphabet="-:{}[]&*!|>'\"#%@` \n\tkindmetaspc0123yesno.~<=,?", max_size=100),
    st.builds(
        lambda before, numeral, after: before + numeral + after,
        st.sampled_from(["", "a: ", "- ", "[", '{"a": ', "x "]),
        numerals,
        st.sampled_from(["", "\n", "]", "}"]),
    ),
)


@settings(deadline=None, max_examples=300)
@given(decoder=st.sampled_from(sorted(DECODING_TOOLS)), text=decodable_texts)
def test_every_decoder_reads_or_refuses_any_text_and_evaluation_decides(
    decoder: str, text: str
) -> None:
    with contextlib.suppress(UnreadableValue):
        DECODERS[decoder].decode(text)
    tool, argument = DECODING_TOOLS[decoder]
    decision = evaluate(DECODING_POLICY, tool, {argument: text})
    check_decision(POLICIES["decoders"], tool, decision)


DECODING_POLICY = compile_policy(POLICIES["decoders"], name="decoders")

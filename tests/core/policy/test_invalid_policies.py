"""Invalid policies are refused with every problem reported at once (DESIGN §3, "Validation").

Each file in `invalid/` holds cases of the form::

    - name: misspelt deny_if
      policy: {...}          # the raw JSON value, or `text: "..."`, the raw file text
      errors:
        - '/tools/x/deney_if: did you mean "deny_if"'

Every expected error is "POINTER: substring". It must be matched by its own problem (one problem per
expected error) whose displayed pointer is exactly POINTER ("(root)" for the empty pointer) and whose
message contains the substring; and there must be no other problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mcpwall.core.policy import PolicyError, compile_policy, load_policy

INVALID_DIR = Path(__file__).resolve().parent / "invalid"


@dataclass(frozen=True)
class InvalidCase:
    file: str
    name: str
    policy: object
    text: str | None
    errors: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.file}: {self.name}"


def _load_cases() -> list[InvalidCase]:
    yaml = YAML(typ="safe")
    cases: list[InvalidCase] = []
    for path in sorted(INVALID_DIR.glob("*.yaml")):
        document = yaml.load(path.read_text(encoding="utf-8"))
        assert isinstance(document, dict), f"{path.name}: expected a mapping with `cases`"
        assert set(document) == {"cases"}, f"{path.name}: only `cases` is expected at the top"
        entries = document["cases"]
        assert isinstance(entries, list), f"{path.name}: `cases` must be a list"
        for entry in entries:
            assert isinstance(entry, dict), f"{path.name}: every case must be a mapping"
            name = entry.get("name")
            assert isinstance(name, str), f"{path.name}: every case needs a string name"
            keys = set(entry)
            assert keys in ({"name", "policy", "errors"}, {"name", "text", "errors"}), (
                f"{path.name}: {name}: expected name, errors and exactly one of policy / text; "
                f"found {sorted(keys)}"
            )
            text = entry.get("text")
            assert text is None or isinstance(text, str), f"{path.name}: {name}: text must be text"
            errors = entry["errors"]
            assert isinstance(errors, list), f"{path.name}: {name}: errors must be a list"
            assert errors, f"{path.name}: {name}: an invalid policy has at least one error"
            for error in errors:
                assert isinstance(error, str), f"{path.name}: {name}: {error!r} is not a string"
                assert ": " in error, f"{path.name}: {name}: {error!r} is not 'POINTER: text'"
            cases.append(
                InvalidCase(path.name, name, entry.get("policy"), text, tuple(map(str, errors)))
            )
    return cases


CASES = _load_cases()


def test_case_files_are_present_and_names_are_unique() -> None:
    assert len(CASES) >= 100
    ids = [case.id for case in CASES]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"case names must be unique within a file: {duplicates}"


def _split(error: str) -> tuple[str, str]:
    pointer, _, substring = error.partition(": ")
    return pointer, substring


def _match(expected: Sequence[str], problems: Sequence[tuple[str, str]]) -> list[int | None]:
    """A one-to-one assignment of expected errors to problems (bipartite matching)."""

    def fits(e: int, p: int) -> bool:
        pointer, substring = _split(expected[e])
        return problems[p][0] == pointer and substring in problems[p][1]

    owner: list[int | None] = [None] * len(problems)

    def augment(e: int, seen: set[int]) -> bool:
        for p in range(len(problems)):
            if p in seen or not fits(e, p):
                continue
            seen.add(p)
            current = owner[p]
            if current is None or augment(current, seen):
                owner[p] = e
                return True
        return False

    for e in range(len(expected)):
        augment(e, set())
    assigned: list[int | None] = [None] * len(expected)
    for p, matched in enumerate(owner):
        if matched is not None:
            assigned[matched] = p
    return assigned


def _load_and_compile(case: InvalidCase) -> None:
    raw = case.policy if case.text is None else load_policy(case.text, source=case.id)
    compile_policy(raw, name="invalid")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_policy_is_refused_with_every_problem(case: InvalidCase) -> None:
    # A `text:` case goes through load_policy first; its errors may come from either step.
    with pytest.raises(PolicyError) as caught:
        _load_and_compile(case)

    problems = tuple(caught.value.problems)
    shown: list[tuple[str, str]] = []
    for problem in problems:
        text = str(problem)
        assert text == f"{problem.pointer or '(root)'}: {problem.message}", text
        pointer_display = text.split(": ", 1)[0]
        shown.append((pointer_display, problem.message))
    report = "\n".join(f"    {str(problem)!r}" for problem in problems)

    assigned = _match(case.errors, shown)
    unmatched = [error for error, p in zip(case.errors, assigned, strict=True) if p is None]
    used = {p for p in assigned if p is not None}
    extra = [str(problems[p]) for p in range(len(problems)) if p not in used]
    assert not unmatched, f"expected errors not reported: {unmatched}\nreported:\n{report}"
    assert not extra, f"problems not expected: {extra}\nreported:\n{report}"
    assert len(problems) == len(case.errors)

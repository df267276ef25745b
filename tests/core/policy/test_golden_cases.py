"""Run every golden case file under ``cases/``: the same files ``mcpwall policy test --cases`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcpwall.core.policy import compile_policy, load_document, load_policy
from mcpwall.core.policy.cases import Case, parse_cases, run_case

CASES_DIR = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("*.cases.yaml"))


def load_cases(path: Path) -> tuple[Path, list[Case]]:
    parsed = parse_cases(load_document(path.read_bytes(), source=str(path)), source=str(path))
    assert parsed.policy is not None, f"{path}: names no policy"
    return path.parent / parsed.policy, list(parsed.cases)


def all_cases() -> list[Any]:  # pytest.param values
    params = []
    for path in CASE_FILES:
        policy_path, cases = load_cases(path)
        params += [
            pytest.param(policy_path, case, id=f"{path.name}::{case.name}") for case in cases
        ]
    return params


@pytest.mark.parametrize(("policy_path", "case"), all_cases())
def test_golden_case(policy_path: Path, case: Case) -> None:
    policy = compile_policy(load_policy(policy_path.read_bytes()), name=policy_path.name)
    result = run_case(policy, case)
    assert result.passed, "\n".join(result.mismatches)


def test_there_are_golden_cases_for_the_seed_policy() -> None:
    assert (CASES_DIR / "seed.cases.yaml") in CASE_FILES
    _, cases = load_cases(CASES_DIR / "seed.cases.yaml")
    assert len(cases) >= 20


def test_the_seed_policy_copy_is_verbatim() -> None:
    """The seed's policy in the test data is byte for byte the one in the seed article."""
    original = Path(__file__).resolve().parents[4] / "shared" / "seed" / "seed-policy.json"
    if not original.exists():
        pytest.skip(f"{original} is not beside this checkout")
    assert (CASES_DIR / "seed.policy.json").read_bytes() == original.read_bytes()

"""``mcpwall apply -f``: declarative, idempotent, checked before anything changes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]
SEED = Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json"

CONFIG = """\
upstreams:
  k8s:
    command: npx -y mcp-server-kubernetes
    env: {KUBECONFIG: "${TEST_KUBECONFIG}"}
  docs:
    url: https://127.0.0.1:9/mcp
    headers: {Authorization: "Bearer ${TEST_DOCS_TOKEN}"}
policies:
  seed: policies/seed.json
  read-only: {version: "1", default: deny, tools: {get_pod: {}}}
grants:
  - label: alice-laptop
    bind: {k8s: seed, docs: read-only}
    expires: 30d
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    shutil.copy(SEED, tmp_path / "policies" / "seed.json")
    path = tmp_path / "mcpwall.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("TEST_KUBECONFIG", "/etc/kube/config")
    monkeypatch.setenv("TEST_DOCS_TOKEN", "docs-secret-4471")
    return path


def test_apply_creates_everything_then_reports_no_changes(
    mcpwall: Run, config: Path, home: Path
) -> None:
    first = mcpwall("apply", "--pin-later", "-f", str(config))
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert "+ upstream k8s  stdio" in lines
    assert "+ upstream docs  http" in lines
    assert any(line.startswith("+ policy seed  version 1") for line in lines)
    assert "+ grant alice-laptop  docs=read-only, k8s=seed" in lines
    [token_line] = [line for line in lines if line.startswith("token alice-laptop: ")]
    token = token_line.split(": ", 1)[1]
    assert token.startswith("mcpw_")

    second = mcpwall("apply", "--pin-later", "-f", str(config))
    assert (second.exit_code, second.output) == (0, "no changes\n")
    assert token not in second.output

    grants = json.loads(mcpwall("grant", "list", "--json").output)
    assert [(g["label"], g["bindings"]) for g in grants] == [
        ("alice-laptop", {"k8s": "seed", "docs": "read-only"})
    ]
    for path in home.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes()
            assert b"docs-secret-4471" not in path.read_bytes()


def test_apply_updates_what_changed_and_shows_a_diff(
    mcpwall: Run, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert mcpwall("apply", "--pin-later", "-f", str(config)).exit_code == 0
    monkeypatch.setenv("TEST_DOCS_TOKEN", "docs-secret-rotated")
    config.write_text(CONFIG.replace("get_pod: {}", "get_pod: {}, list_pods: {}"), encoding="utf-8")
    result = mcpwall("apply", "--pin-later", "-f", str(config))
    assert result.exit_code == 0, result.output
    assert "~ upstream docs  changed: headers Authorization" in result.output
    assert "docs-secret" not in result.output
    assert "~ policy read-only  version 2" in result.output
    assert '+    "list_pods": {}' in result.output
    assert "token alice-laptop" not in result.output  # nothing re-issued
    assert mcpwall("apply", "--pin-later", "-f", str(config)).output == "no changes\n"


def test_apply_sets_and_round_trips_the_pinning_mode(mcpwall: Run, config: Path) -> None:
    warned = CONFIG.replace(
        "url: https://127.0.0.1:9/mcp", "url: https://127.0.0.1:9/mcp\n    pinning: warn"
    )
    config.write_text(warned.replace("command: npx", "pinning: off\n    command: npx"), "utf-8")
    assert mcpwall("apply", "--pin-later", "-f", str(config)).exit_code == 0
    listed = json.loads(mcpwall("upstream", "list", "--json").output)
    assert {u["name"]: u["pinning"] for u in listed} == {"docs": "warn", "k8s": "off"}
    assert mcpwall("apply", "--pin-later", "-f", str(config)).output == "no changes\n"

    config.write_text(CONFIG, encoding="utf-8")  # pinning left out: enforce
    result = mcpwall("apply", "--pin-later", "-f", str(config))
    assert result.exit_code == 0, result.output
    assert "~ upstream docs  changed: pinning warn → enforce" in result.output
    assert "~ upstream k8s  changed: pinning off → enforce" in result.output
    listed = json.loads(mcpwall("upstream", "list", "--json").output)
    assert {u["name"]: u["pinning"] for u in listed} == {"docs": "enforce", "k8s": "enforce"}
    assert mcpwall("apply", "--pin-later", "-f", str(config)).output == "no changes\n"


def test_dry_run_changes_nothing(mcpwall: Run, config: Path) -> None:
    result = mcpwall("apply", "--pin-later", "-f", str(config), "--dry-run")
    assert result.exit_code == 0
    assert "nothing applied" in result.output
    assert json.loads(mcpwall("upstream", "list", "--json").output) == []


@pytest.mark.parametrize(
    ("replace", "by", "problem"),
    [
        (
            "docs: read-only}",
            "docs: nosuch}",
            '/grants/0/bind: policy "nosuch" is neither stored nor in this file',
        ),
        (
            "${TEST_DOCS_TOKEN}",
            "${TEST_UNSET_VARIABLE}",
            "/upstreams/docs/headers/Authorization: environment variable TEST_UNSET_VARIABLE is not set",
        ),
        ("policies/seed.json", "policies/missing.json", "/policies/seed: cannot read"),
        ("default: deny", "default: maybe", '/policies/read-only: policy /default: found "maybe"'),
        ("expires: 30d", "expires: 30 days", '/grants/0/expires: duration "30 days"'),
        ("url: https://127.0.0.1:9/mcp", "url: ftp://x", "an http:// or https:// URL"),
        (
            "url: https://127.0.0.1:9/mcp",
            "url: https://127.0.0.1:9/mcp\n    pinning: warm",
            '/upstreams/docs/pinning: found "warm" (expected one of enforce, warn, off; did you mean "warn"?)',
        ),
        (
            "upstreams:",
            "upstream:",
            '/upstream: unknown key "upstream" (expected one of upstreams, policies, grants; did you mean "upstreams"?)',
        ),
    ],
)
def test_a_bad_config_changes_nothing(
    mcpwall: Run, config: Path, replace: str, by: str, problem: str
) -> None:
    config.write_text(CONFIG.replace(replace, by), encoding="utf-8")
    result = mcpwall("apply", "--pin-later", "-f", str(config))
    assert result.exit_code == 2
    assert problem in result.output
    assert json.loads(mcpwall("upstream", "list", "--json").output) == []
    assert json.loads(mcpwall("policy", "list", "--json").output) == []


def test_a_grant_is_never_rebound_in_place(mcpwall: Run, config: Path) -> None:
    assert mcpwall("apply", "--pin-later", "-f", str(config)).exit_code == 0
    config.write_text(CONFIG.replace("docs: read-only}", "docs: seed}"), encoding="utf-8")
    result = mcpwall("apply", "--pin-later", "-f", str(config))
    assert result.exit_code == 2
    assert 'active grant "alice-laptop"' in result.output
    assert "has other bindings; revoke it first" in result.output

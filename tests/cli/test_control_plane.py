"""Register an upstream, set a policy, issue a grant: the control plane from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]

SEED = Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json"
SECRETS = ("kubeconfig-secret-9f2c", "ghp_headersecret0123456789")


def json_output(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def register(mcpwall: Run) -> None:
    for args in (
        ("upstream", "add", "k8s", "--command", "npx -y mcp-server-kubernetes", "--pin-later",
         "--env", f"KUBE_TOKEN={SECRETS[0]}"),
        ("upstream", "add", "github", "--url", "https://127.0.0.1:9/mcp",
         "--header", f"Authorization: Bearer {SECRETS[1]}"),
        ("policy", "set", "seed", str(SEED)),
    ):  # fmt: skip
        result = mcpwall(*args)
        assert result.exit_code == 0, result.output


def test_a_new_user_registers_the_seed_server_sets_its_policy_and_issues_a_grant(
    mcpwall: Run, home: Path
) -> None:
    register(mcpwall)
    issued = json_output(
        mcpwall(
            "grant",
            "issue",
            "--label",
            "alice-laptop",
            "--bind",
            "k8s=seed",
            "--expires",
            "30d",
            "--json",
        )
    )
    assert isinstance(issued, dict)
    assert issued["label"] == "alice-laptop"
    assert issued["bindings"] == {"k8s": "seed"}
    assert issued["status"] == "active"
    assert issued["expires_at"] is not None
    token = issued["token"]
    assert isinstance(token, str)
    assert token.startswith("mcpw_")
    assert len(token) >= len("mcpw_") + 43  # 32 random bytes, URL-safe base64

    grants = json_output(mcpwall("grant", "list", "--json"))
    assert isinstance(grants, list)
    assert [g["label"] for g in grants] == ["alice-laptop"]
    assert "token" not in grants[0]

    # The token is in no file under MCPWALL_HOME, and in no output but the one that issued it.
    for path in home.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert token.encode() not in content, path
            for secret in SECRETS:
                assert secret.encode() not in content, path
    for args in (
        ("grant", "list"),
        ("upstream", "list"),
        ("upstream", "list", "--json"),
        ("policy", "list"),
    ):
        result = mcpwall(*args)
        assert result.exit_code == 0
        assert token not in result.output
        assert all(secret not in result.output for secret in SECRETS)


def test_upstream_list_masks_secret_values(mcpwall: Run) -> None:
    register(mcpwall)
    listed = json_output(mcpwall("upstream", "list", "--json"))
    assert listed == [
        {"name": "github", "kind": "http", "url": "https://127.0.0.1:9/mcp", "headers": {"Authorization": "***"},
         "pinning": "enforce"},
        {"name": "k8s", "kind": "stdio", "command": "npx", "args": ["-y", "mcp-server-kubernetes"], "cwd": None,
         "env": {"KUBE_TOKEN": "***"}, "pinning": "enforce"},
    ]  # fmt: skip
    text = mcpwall("upstream", "list").output
    assert "KUBE_TOKEN=***" in text
    assert "Authorization: ***" in text


def test_policy_versions_are_kept_and_shown_exactly(mcpwall: Run, tmp_path: Path) -> None:
    register(mcpwall)
    second = tmp_path / "v2.yaml"
    second.write_text("version: '1'\ndefault: deny\ntools:\n  get_pod: {}\n", encoding="utf-8")
    result = mcpwall("policy", "set", "seed", str(second))
    assert result.exit_code == 0
    assert "set policy seed version 2" in result.output
    assert mcpwall("policy", "show", "seed").output == second.read_text(encoding="utf-8")
    assert mcpwall("policy", "show", "seed", "--version", "1").output == SEED.read_text(
        encoding="utf-8"
    )
    listed = json_output(mcpwall("policy", "list", "--json"))
    assert isinstance(listed, list)
    assert [(p["name"], p["version"]) for p in listed] == [("seed", 2)]
    assert listed[0]["created_by"].startswith("cli:")


def test_an_invalid_policy_is_never_stored(mcpwall: Run, tmp_path: Path) -> None:
    register(mcpwall)
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"version": "1", "default": "allow", "tools": {"x": {"deney_if": []}}}', encoding="utf-8"
    )
    result = mcpwall("policy", "set", "seed", str(bad))
    assert result.exit_code == 2
    assert '/tools/x/deney_if: unknown key "deney_if"' in result.output
    listed = json_output(mcpwall("policy", "list", "--json"))
    assert isinstance(listed, list)
    assert listed[0]["version"] == 1


def test_policy_test_works_on_a_stored_policy(mcpwall: Run) -> None:
    register(mcpwall)
    result = mcpwall(
        "policy",
        "test",
        "seed",
        "--tool",
        "delete_pod",
        "--args",
        '{"namespace": "payments-prod"}',
        "--json",
    )
    assert json.loads(result.output)["rule"] == "/tools/delete_pod/require/0/conditions/0"
    assert mcpwall("policy", "test", "nosuch", "--tool", "x").exit_code == 2


def test_revoke_and_rotate(mcpwall: Run) -> None:
    register(mcpwall)
    first = json_output(
        mcpwall("grant", "issue", "--label", "ci-runner", "--bind", "k8s=seed", "--json")
    )
    assert isinstance(first, dict)
    rotated = json_output(mcpwall("grant", "rotate", "ci-runner", "--json"))
    assert isinstance(rotated, dict)
    assert rotated["id"] == first["id"]
    assert rotated["token"] != first["token"]
    result = mcpwall("grant", "revoke", str(first["id"]))
    assert result.exit_code == 0
    grants = json_output(mcpwall("grant", "list", "--json"))
    assert isinstance(grants, list)
    assert grants[0]["status"] == "revoked"
    # A revoked grant's label is free again.
    assert mcpwall("grant", "issue", "--label", "ci-runner", "--bind", "k8s=seed").exit_code == 0


def test_bad_input_gets_a_clear_message_and_changes_nothing(mcpwall: Run, tmp_path: Path) -> None:
    register(mcpwall)
    assert mcpwall("grant", "issue", "--label", "a", "--bind", "k8s=seed").exit_code == 0
    cases = [
        (
            ("grant", "issue", "--label", "a", "--bind", "k8s=seed"),
            'grant label "a" is used by active grant',
        ),
        (("grant", "issue", "--label", "b", "--bind", "nope=seed"), 'upstream "nope" not found'),
        (("grant", "issue", "--label", "b", "--bind", "k8s=nope"), 'policy "nope" not found'),
        (("grant", "issue", "--label", "b", "--bind", "k8s"), "--bind expects UPSTREAM=POLICY"),
        (
            ("grant", "issue", "--label", "b", "--bind", "k8s=seed", "--expires", "soon"),
            'duration "soon"',
        ),
        (("upstream", "add", "Bad_Name", "--url", "https://127.0.0.1/mcp"), "upstream name"),
        (("upstream", "add", "x", "--url", "ftp://127.0.0.1/mcp"), "an http:// or https:// URL"),
        (
            ("upstream", "add", "x", "--url", "https://127.0.0.1/mcp", "--header", "NoColon"),
            "--header expects",
        ),
        (("upstream", "add", "x"), "give either --command"),
        (("upstream", "add", "k8s", "--command", "other"), "k8s"),
        (("upstream", "remove", "k8s"), "bound to active grants a"),
        (("policy", "set", "p", str(tmp_path / "missing.json")), "cannot read"),
        (("grant", "revoke", "nobody"), "nobody"),
    ]
    before = mcpwall("grant", "list", "--json").output
    for args, message in cases:
        result = mcpwall(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert mcpwall("grant", "list", "--json").output == before


def test_an_unreachable_database_is_a_clear_error(
    mcpwall: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPWALL_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = mcpwall("upstream", "list")
    assert result.exit_code == 2
    assert "unavailable" in result.output
    assert "Traceback" not in result.output


def test_admin_tokens_are_created_listed_and_revoked(mcpwall: Run, home: Path) -> None:
    created = json_output(
        mcpwall("admin", "token", "create", "--role", "policy_manager", "--label", "ops", "--json")
    )
    assert isinstance(created, dict)
    assert created["role"] == "policy_manager"
    assert str(created["token"]).startswith("mcpwa_")
    listed = mcpwall("admin", "token", "list", "--json")
    assert created["token"] not in listed.output
    assert mcpwall("admin", "token", "revoke", str(created["id"])).exit_code == 0
    [listed_token] = json.loads(mcpwall("admin", "token", "list", "--json").output)
    assert (listed_token["id"], listed_token["status"]) == (created["id"], "revoked")
    assert mcpwall("admin", "token", "create", "--role", "root").exit_code == 2


def test_the_same_flow_on_postgresql(
    mcpwall: Run, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MCPWALL_DATABASE_URL`` switches the CLI to PostgreSQL; nothing else changes."""
    monkeypatch.setenv("MCPWALL_DATABASE_URL", postgres_url)
    register(mcpwall)
    issued = json_output(
        mcpwall("grant", "issue", "--label", "ci-runner", "--bind", "k8s=seed", "--json")
    )
    assert isinstance(issued, dict)
    grants = json_output(mcpwall("grant", "list", "--json"))
    assert isinstance(grants, list)
    assert [(g["id"], g["status"]) for g in grants] == [(issued["id"], "active")]
    result = mcpwall("policy", "test", "seed", "--tool", "get_secret", "--json")
    assert json.loads(result.output)["rule"] == "(hidden)"

"""What a stdio upstream inherits: a few harmless variables, then its registered env."""

from __future__ import annotations

from mcpwall.adapters.upstream import child_environment
from mcpwall.adapters.upstream.environment import INHERITED

OURS = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/gw",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "MCPWALL_DATABASE_URL": "postgresql://gw:secret@db/gw",
    "AWS_SECRET_ACCESS_KEY": "hush",
    "HTTPS_PROXY": "http://user:pass@proxy:3128",
    "SHELL": "() { :; }; echo pwned",
}


def test_only_harmless_variables_are_inherited() -> None:
    assert child_environment({}, OURS) == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/gw",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
    }


def test_the_registry_env_wins() -> None:
    env = child_environment({"PATH": "/fake/bin:/usr/bin", "KUBECONFIG": "/k"}, OURS)
    assert env["PATH"] == "/fake/bin:/usr/bin"
    assert env["KUBECONFIG"] == "/k"
    assert "MCPWALL_DATABASE_URL" not in env


def test_by_default_it_reads_our_environment() -> None:
    env = child_environment({"X": "1"})
    assert env["X"] == "1"
    assert all(name in INHERITED or name.startswith("LC_") for name in set(env) - {"X"})

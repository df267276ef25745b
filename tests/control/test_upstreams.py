"""Upstreams in the control plane: what a person types, read into an upstream or refused at
the field at fault (never showing a secret), and what active grants bind to each."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwall.control import ControlPlane
from mcpwall.control.upstreams import (
    CLI_LABELS,
    FORM_LABELS,
    UpstreamInput,
    UpstreamInputError,
    active_bindings,
    add_upstream,
    describe_target,
    field_of,
    list_upstreams,
    masked_secrets,
    remove_upstream,
    split_command,
    split_pairs,
    upstream_from,
)
from mcpwall.core.errors import Conflict
from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore

SEED = (Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json").read_text()
SECRET = "sekrit-value-42"


def test_a_command_line_is_split_as_a_shell_would() -> None:
    made = upstream_from(
        UpstreamInput(
            "k8s", command="npx -y 'my server' --flag=\"a b\"", env=[("KUBECONFIG", SECRET)]
        )
    )
    assert made == Upstream.stdio(
        "k8s", "npx", ("-y", "my server", "--flag=a b"), {"KUBECONFIG": SECRET}
    )


def test_a_url_is_http_unless_told_sse() -> None:
    headers = [("Authorization", f"Bearer {SECRET}")]
    http = upstream_from(UpstreamInput("gh", url="https://example.com/mcp", headers=headers))
    sse = upstream_from(UpstreamInput("gh", kind="sse", url="https://example.com/sse"))
    assert (http.kind, dict(http.headers)) == (
        UpstreamKind.HTTP,
        {"Authorization": f"Bearer {SECRET}"},
    )
    assert sse.kind is UpstreamKind.SSE


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            UpstreamInput("x"),
            "command",
            "give either Command (a stdio server) or URL (an HTTP server)",
        ),
        (UpstreamInput("x", command="a", url="http://h/"), "command", "not both"),
        (
            UpstreamInput("x", kind="ftp", url="http://h/"),
            "kind",
            'Transport "ftp": expected one of stdio, http, sse',
        ),
        (UpstreamInput("x", kind="stdio"), "command", 'Command "": expected a program to run'),
        (
            UpstreamInput("x", kind="stdio", command="a 'b"),
            "command",
            "can't split the command line",
        ),
        (
            UpstreamInput("x", kind="stdio", command="a", url="http://h/"),
            "url",
            "URL applies to http and sse upstreams",
        ),
        (
            UpstreamInput("x", kind="stdio", command="a", headers=[("K", "v")]),
            "headers",
            "Headers applies",
        ),
        (
            UpstreamInput("x", kind="http", url="http://h/", env=[("K", "v")]),
            "env",
            "Environment applies to stdio upstreams",
        ),
        (
            UpstreamInput("x", kind="http", url="http://h/", cwd="/tmp"),
            "cwd",
            "Working directory applies",
        ),
        (UpstreamInput("x", kind="http"), "url", 'URL "": expected an http:// or https:// URL'),
        (UpstreamInput("x", kind="http", url="ftp://h/"), "url", "an http:// or https:// URL"),
        (UpstreamInput("Bad_Name", command="a"), "name", 'upstream name "Bad_Name"'),
        (UpstreamInput("x", command="a", env=[("1BAD", "v")]), "env", 'env key "1BAD"'),
        (
            UpstreamInput("x", command="a", env=[("K", "a"), ("K", "b")]),
            "env",
            'Environment "K" is given twice',
        ),
        (
            UpstreamInput("x", url="http://h/", headers=[("Bad Name", "v")]),
            "headers",
            "header name",
        ),
        (UpstreamInput("x", command="a", cwd="/tmp\x00"), "cwd", "cwd"),
    ],
)
def test_a_bad_description_is_refused_at_its_field(
    spec: UpstreamInput, field: str, message: str
) -> None:
    with pytest.raises(UpstreamInputError) as refused:
        upstream_from(spec)
    assert refused.value.field == field
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "spec",
    [
        UpstreamInput("x", command="a", env=[("K", f"{SECRET}\x00")]),
        UpstreamInput("x", url="http://h/", headers=[("K", f"{SECRET}\r\nX-Injected: 1")]),
    ],
)
def test_a_bad_secret_value_is_refused_without_showing_it(spec: UpstreamInput) -> None:
    with pytest.raises(UpstreamInputError) as refused:
        upstream_from(spec)
    assert SECRET not in str(refused.value)
    assert "not shown" in str(refused.value)


def test_the_command_lines_labels_name_its_flags() -> None:
    with pytest.raises(UpstreamInputError, match=r"give either --command .* or --url"):
        upstream_from(UpstreamInput("x"), CLI_LABELS)
    with pytest.raises(UpstreamInputError, match="--command: can't split"):
        split_command("'", CLI_LABELS)
    assert split_command("a b", FORM_LABELS) == ["a", "b"]


def test_pairs_are_read_and_a_malformed_one_is_shown_by_its_length_only() -> None:
    assert split_pairs(["A=1=2", "B="], "env") == [("A", "1=2"), ("B", "")]
    assert split_pairs(["Authorization:  Bearer x "], "headers") == [("Authorization", "Bearer x")]
    with pytest.raises(UpstreamInputError) as refused:
        split_pairs([f"Authorization Bearer {SECRET}"], "headers")
    assert str(refused.value) == (
        '--header expects "KEY: VALUE", found one without ":" (not shown, 36 characters)'
    )
    assert refused.value.field == "headers"
    with pytest.raises(
        UpstreamInputError, match="--env expects KEY=VALUE, found one without a key"
    ):
        split_pairs([f"={SECRET}"], "env")


@pytest.mark.parametrize(
    ("what", "field"),
    [
        ("upstream name", "name"),
        ('upstream "x" kind', "kind"),
        ('upstream "x" command', "command"),
        ('upstream "x" argument', "command"),
        ('upstream "x" cwd', "cwd"),
        ('upstream "x" env key', "env"),
        ('upstream "x" env KEY value', "env"),
        ('upstream "x" url', "url"),
        ('upstream "x" header name', "headers"),
        ('upstream "x" header X-Key value', "headers"),
    ],
)
def test_each_check_of_an_upstream_names_its_field(what: str, field: str) -> None:
    assert field_of(what) == field


def test_targets_and_secrets_are_described_without_values() -> None:
    stdio = Upstream.stdio("a", "npx", ("-y", "my server"), {"K": SECRET}, cwd="/srv")
    remote = Upstream.remote("b", f"https://u:{SECRET}@h/mcp?k={SECRET}", {"X-Key": SECRET})
    assert describe_target(stdio) == "npx -y 'my server' (in /srv)"
    assert describe_target(remote) == "https://u:***@h/mcp?k=***"
    assert masked_secrets(stdio) == "K=***"
    assert masked_secrets(remote) == "X-Key: ***"


def test_active_bindings_name_each_upstreams_active_grants() -> None:
    clock = FakeClock()
    plane = ControlPlane(MemoryStore(clock), clock)
    add_upstream(plane, Upstream.stdio("k8s", "kubectl-mcp"), actor="t")
    add_upstream(plane, Upstream.stdio("db", "db-mcp"), actor="t")
    plane.set_policy("seed", SEED, actor="t")
    plane.issue_grant("bob", {"k8s": "seed", "db": "seed"}, actor="t")
    plane.issue_grant("alice", {"k8s": "seed"}, actor="t")
    plane.issue_grant("gone", {"db": "seed"}, actor="t")
    plane.store.revoke_grant("gone", actor="t")
    plane.issue_grant("soon", {"db": "seed"}, expires_in=60, actor="t")
    clock.advance(60)
    found = active_bindings(plane)
    assert {name: [b.grant_label for b in found[name]] for name in found} == {
        "k8s": ["alice", "bob"],
        "db": ["bob"],
    }
    assert [upstream.name for upstream in list_upstreams(plane)] == ["db", "k8s"]
    with pytest.raises(Conflict, match="bound to active grants alice, bob"):
        remove_upstream(plane, "k8s", actor="t")
    plane.store.revoke_grant("bob", actor="t")
    remove_upstream(plane, "db", actor="t")
    assert [upstream.name for upstream in list_upstreams(plane)] == ["k8s"]

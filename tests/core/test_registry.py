"""The registry's values: checked when built, time passed in, secrets masked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from mcpwall.core.errors import InvalidName, InvalidValue, NotFound
from mcpwall.core.names import check_name
from mcpwall.core.registry import (
    AdminToken,
    Grant,
    Pinning,
    Role,
    Status,
    Upstream,
    UpstreamKind,
    check_actor,
    check_bindings,
    check_bindings_exist,
    check_expiry,
    check_role,
    is_grant_id,
    status_at,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HASH = "0" * 64


# Upstreams


def test_a_stdio_upstream_holds_its_command_and_environment() -> None:
    upstream = Upstream.stdio("k8s", "npx", ("-y", "mcp-server-kubernetes"), {"K": "v"}, "/srv")
    assert (upstream.kind, upstream.command, upstream.args) == (
        UpstreamKind.STDIO,
        "npx",
        ("-y", "mcp-server-kubernetes"),
    )
    assert (upstream.env, upstream.cwd, upstream.url, upstream.headers) == (
        {"K": "v"},
        "/srv",
        None,
        {},
    )


def test_a_remote_upstream_is_http_or_sse() -> None:
    http = Upstream.remote("gh", "https://example.com/mcp", {"Authorization": "Bearer x"})
    sse = Upstream.remote("old", "http://127.0.0.1:8080/sse", kind=UpstreamKind.SSE)
    assert (http.kind, sse.kind) == (UpstreamKind.HTTP, UpstreamKind.SSE)
    # A kind given as text, as read from a database or a file, becomes the enum.
    assert Upstream("old", "sse", url="http://127.0.0.1:8080/sse") == sse  # type: ignore[arg-type]


def test_an_upstream_cannot_be_changed_through_what_built_it_or_read_it() -> None:
    env = {"K": "v"}
    upstream = Upstream.stdio("k8s", "npx", env=env)
    env["K"] = "changed"
    assert upstream.env == {"K": "v"}
    with pytest.raises(TypeError):
        upstream.env["K"] = "changed"  # type: ignore[index]


def test_the_repr_of_an_upstream_masks_its_secrets() -> None:
    upstream = Upstream.stdio("k8s", "npx", env={"TOKEN": "s3cret"})
    remote = Upstream.remote("gh", "https://example.com", {"Authorization": "Bearer s3cret"})
    assert "s3cret" not in repr(upstream) + repr(remote)
    assert "env={'TOKEN': '***'}" in repr(upstream)
    assert "headers={'Authorization': '***'}" in repr(remote)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Upstream.stdio("K8s", "npx"), r'^upstream name "K8s": expected'),
        (lambda: Upstream("k8s", "ftp"), r'^upstream "k8s" kind "ftp": expected one of stdio'),  # type: ignore[arg-type]
        (lambda: Upstream.stdio("k8s", ""), r'^upstream "k8s" command "": expected a program'),
        (
            lambda: Upstream("k8s", UpstreamKind.STDIO, command="x", url="http://h"),
            r'^upstream "k8s" kind "stdio": expected no url or headers',
        ),
        (
            lambda: Upstream("gh", UpstreamKind.HTTP, url="http://h", command="x"),
            r'^upstream "gh" kind "http": expected no command, args, env or cwd',
        ),
        (
            lambda: Upstream.stdio("k8s", "npx", env={"1BAD": "v"}),
            r'^upstream "k8s" env key "1BAD": expected',
        ),
        (
            lambda: Upstream.stdio("k8s", "npx", ("a\x00b",)),
            r'^upstream "k8s" argument "a\\u0000b": expected text without NUL',
        ),
        (
            lambda: Upstream.stdio("k8s", "npx", cwd="/a\x00"),
            r'^upstream "k8s" cwd "/a\\u0000": expected',
        ),
        (
            lambda: Upstream.remote("gh", "ftp://h"),
            r'^upstream "gh" url "ftp://h": expected an http',
        ),
        (lambda: Upstream.remote("gh", "https://"), r'url "https://": expected an http'),
        (lambda: Upstream.remote("gh", "https://h/a b"), "expected an http:// or https:// URL"),
        (lambda: Upstream("gh", UpstreamKind.HTTP), r'url "": expected an http'),
        (
            lambda: Upstream.remote("gh", "https://h", {"Bad Name": "v"}),
            r'^upstream "gh" header name "Bad Name": expected an HTTP header name',
        ),
    ],
)
def test_a_malformed_upstream_cannot_be_built(build: object, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("build", "secret"),
    [
        (lambda: Upstream.stdio("k8s", "npx", env={"TOKEN": "s3cret\x00"}), "s3cret"),
        (lambda: Upstream.remote("gh", "https://h", {"X-Key": "s3cret\r\nX-Evil: 1"}), "s3cret"),
    ],
)
def test_a_malformed_secret_is_refused_without_being_shown(build: object, secret: str) -> None:
    with pytest.raises(InvalidValue, match=r"\(not shown, \d+ characters\)") as caught:
        build()  # type: ignore[operator]
    assert secret not in str(caught.value)


def test_an_upstream_name_is_checked_first() -> None:
    with pytest.raises(InvalidName):
        Upstream.remote("Bad", "ftp://nope")


# Grants and admin tokens


def grant(**changes: object) -> Grant:
    values: dict[str, object] = {
        "id": "grt_0123456789abcdef",
        "label": "alice",
        "token_hash": HASH,
        "bindings": {"k8s": "seed"},
        "created_at": NOW,
    }
    return Grant(**{**values, **changes})  # type: ignore[arg-type]


def test_a_grant_is_active_until_it_expires_or_is_revoked() -> None:
    assert grant().status(NOW + timedelta(days=9999)) is Status.ACTIVE
    expiring = grant(expires_at=NOW + timedelta(hours=1))
    assert expiring.is_active(NOW + timedelta(minutes=59))
    assert expiring.status(NOW + timedelta(hours=1)) is Status.EXPIRED
    revoked = grant(expires_at=NOW, revoked_at=NOW)
    assert revoked.status(NOW + timedelta(days=1)) is Status.REVOKED  # revoked wins
    assert not revoked.is_active(NOW)


def test_status_at_is_what_grants_and_tokens_share() -> None:
    assert status_at(NOW, None, None) is Status.ACTIVE
    assert status_at(NOW, NOW, None) is Status.EXPIRED
    assert status_at(NOW, None, NOW) is Status.REVOKED


def test_grant_bindings_are_read_only() -> None:
    bindings = {"k8s": "seed"}
    built = grant(bindings=bindings)
    bindings["k8s"] = "other"
    assert built.bindings == {"k8s": "seed"}
    with pytest.raises(TypeError):
        built.bindings["gh"] = "seed"  # type: ignore[index]


def test_an_admin_token_has_a_status_too() -> None:
    token = AdminToken("adm_0", None, Role.VIEWER, HASH, NOW, "ops", expires_at=NOW)
    assert token.status(NOW) is Status.EXPIRED
    assert not token.is_active(NOW)


def test_roles_include_the_ones_below_them() -> None:
    assert Role.ADMIN.includes(Role.POLICY_MANAGER)
    assert Role.ADMIN.includes(Role.VIEWER)
    assert Role.POLICY_MANAGER.includes(Role.VIEWER)
    assert not Role.POLICY_MANAGER.includes(Role.ADMIN)
    assert not Role.VIEWER.includes(Role.POLICY_MANAGER)
    assert all(role.includes(role) for role in Role)


def test_a_role_is_checked_by_name() -> None:
    assert check_role("policy_manager") is Role.POLICY_MANAGER
    with pytest.raises(InvalidValue, match=r'^role "root": expected one of admin'):
        check_role("root")


def test_ids_and_labels_cannot_be_confused() -> None:
    assert is_grant_id("grt_0123456789abcdef")
    assert not is_grant_id("alice")
    with pytest.raises(InvalidName):
        check_name("grt_0123456789abcdef", "grant label")  # no label looks like an id


# Checks the stores share


def test_bindings_need_at_least_one_and_valid_names() -> None:
    assert check_bindings({"k8s": "seed"}) == {"k8s": "seed"}
    with pytest.raises(InvalidValue, match="expected at least one UPSTREAM=POLICY binding"):
        check_bindings({})
    with pytest.raises(InvalidName, match=r'^binding K8S=seed upstream name "K8S"'):
        check_bindings({"K8S": "seed"})
    with pytest.raises(InvalidName, match=r'^binding k8s=Seed policy name "Seed"'):
        check_bindings({"k8s": "Seed"})


def test_bindings_must_name_what_exists_first_missing_by_upstream_name() -> None:
    check_bindings_exist({"k8s": "seed"}, {"k8s"}, {"seed"})
    with pytest.raises(NotFound, match=r'^binding a=x: upstream "a" not found$'):
        check_bindings_exist({"k8s": "x", "a": "x"}, {"k8s"}, {"seed"})
    with pytest.raises(NotFound, match=r'^binding k8s=x: policy "x" not found$'):
        check_bindings_exist({"k8s": "x"}, {"k8s"}, {"seed"})


@pytest.mark.parametrize("actor", ["", "a" * 201, "line\nbreak"])
def test_an_actor_is_short_printable_text(actor: str) -> None:
    with pytest.raises(InvalidValue, match=r"^actor "):
        check_actor(actor)


def test_an_expiry_must_be_aware() -> None:
    assert check_expiry(None) is None
    assert check_expiry(NOW) == NOW
    with pytest.raises(InvalidValue, match=r'^expiry "2026-01-01T00:00:00": expected a timezone'):
        check_expiry(NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Upstream.stdio("a", "x\udcff"),
        lambda: Upstream.stdio("a", "x", ("\udcff",)),
        lambda: Upstream.stdio("a", "x", env={"K": "v\udcff"}),
        lambda: Upstream.remote("a", "https://h/\udcff"),
        lambda: Upstream.remote("a", "https://h/mcp", {"X": "v\udcff"}),
    ],
)
def test_text_that_is_not_valid_unicode_is_refused(build: Callable[[], Upstream]) -> None:
    """A command line can carry undecodable bytes (lone surrogates); they can't be stored."""
    with pytest.raises(InvalidValue, match="valid UTF-8 text"):
        build()


def test_an_upstream_pins_its_tools_in_enforce_mode_unless_told_otherwise() -> None:
    assert Upstream.stdio("k8s", "npx").pinning is Pinning.ENFORCE
    assert Upstream.remote("gh", "https://h/mcp").pinning is Pinning.ENFORCE
    warned = Upstream.stdio("k8s", "npx", pinning=Pinning.WARN)
    assert warned.pinning is Pinning.WARN
    off = Upstream.remote("gh", "https://h/mcp", pinning="off")  # type: ignore[arg-type]
    assert off.pinning is Pinning.OFF
    assert "pinning='off'" in repr(off)
    assert warned != Upstream.stdio("k8s", "npx")


@pytest.mark.parametrize("mode", ["", "Enforce", "strict", None])
def test_an_unknown_pinning_mode_is_refused_naming_the_modes(mode: object) -> None:
    with pytest.raises(InvalidValue, match=r"pinning .*expected one of enforce, warn, off"):
        Upstream.stdio("k8s", "npx", pinning=mode)  # type: ignore[arg-type]

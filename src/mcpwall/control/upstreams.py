"""Upstreams: registering, listing and removing them, as the CLI, the admin API and the
dashboard all do it, and what is bound to each.

A person describes an upstream as text: a command line (split as a POSIX shell would, like
``--command "npx -y mcp-server-kubernetes"``) with ``KEY=VALUE`` environment variables, or a
URL with ``Key: Value`` headers. :func:`upstream_from` turns such a description into an
:class:`~mcpwall.core.registry.Upstream`, or raises :class:`UpstreamInputError` naming the
field at fault the way the asking surface names it (``--env`` on the command line,
"Environment" in a form). Env and header values are secrets: no message ever shows one.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from mcpwall.control import ControlPlane
from mcpwall.control.views import masked_url
from mcpwall.core.errors import InvalidValue, MCPWallError
from mcpwall.core.registry import Upstream, UpstreamKind

FIELDS = ("name", "kind", "command", "cwd", "env", "url", "headers")
CLI_LABELS: Mapping[str, str] = {
    "name": "NAME",
    "kind": "--transport",
    "command": "--command",
    "cwd": "--cwd",
    "env": "--env",
    "url": "--url",
    "headers": "--header",
}
FORM_LABELS: Mapping[str, str] = {
    "name": "Name",
    "kind": "Transport",
    "command": "Command",
    "cwd": "Working directory",
    "env": "Environment",
    "url": "URL",
    "headers": "Headers",
}
KINDS = tuple(kind.value for kind in UpstreamKind)


class UpstreamInputError(InvalidValue):
    """An upstream description with a field that can't be used; ``field`` is one of
    :data:`FIELDS`. The message never shows an env or header value."""

    def __init__(self, field: str, message: str) -> None:
        MCPWallError.__init__(self, message)
        self.field = field
        self.what = field
        self.found = ""
        self.expected = ""


@dataclass(frozen=True, slots=True)
class UpstreamInput:
    """An upstream as a person describes it. ``kind`` None means: stdio for a command, http
    for a URL. ``env`` and ``headers`` are (key, value) pairs in the order given."""

    name: str
    kind: str | None = None
    command: str | None = None
    cwd: str | None = None
    env: Sequence[tuple[str, str]] = ()
    url: str | None = None
    headers: Sequence[tuple[str, str]] = ()


def upstream_from(spec: UpstreamInput, labels: Mapping[str, str] = FORM_LABELS) -> Upstream:
    """The upstream ``spec`` describes; :class:`UpstreamInputError` for the first problem."""
    command, url = spec.command, spec.url
    kind = spec.kind
    if kind is not None and kind not in KINDS:
        raise UpstreamInputError(
            "kind", f'{labels["kind"]} "{kind}": expected one of {", ".join(KINDS)}'
        )
    if kind is None:
        if (command is None) == (url is None):
            both = ", not both" if command is not None else ""
            raise UpstreamInputError(
                "command",
                f"give either {labels['command']} (a stdio server) "
                f"or {labels['url']} (an HTTP server){both}",
            )
        kind = UpstreamKind.STDIO.value if command is not None else UpstreamKind.HTTP.value
    if kind == UpstreamKind.STDIO.value:
        if url is not None or spec.headers:
            field = "url" if url is not None else "headers"
            raise UpstreamInputError(
                field,
                f"{labels[field]} applies to http and sse upstreams; "
                f"a stdio server takes {labels['command']} and {labels['env']}",
            )
        argv = split_command(command or "", labels)
        env = _unique(spec.env, "env", labels)
        return _built(lambda: Upstream.stdio(spec.name, argv[0], tuple(argv[1:]), env, spec.cwd))
    if command is not None or spec.env or spec.cwd is not None:
        field = "command" if command is not None else "env" if spec.env else "cwd"
        raise UpstreamInputError(
            field,
            f"{labels[field]} applies to stdio upstreams; "
            f"an {kind} server takes {labels['url']} and {labels['headers']}",
        )
    if not url:
        raise UpstreamInputError(
            "url", f'{labels["url"]} "": expected an http:// or https:// URL for an {kind} upstream'
        )
    headers = _unique(spec.headers, "headers", labels)
    return _built(lambda: Upstream.remote(spec.name, url, headers, UpstreamKind(kind)))


def split_command(command_line: str, labels: Mapping[str, str] = FORM_LABELS) -> list[str]:
    """A command line as its words, split as a POSIX shell would (no shell ever runs it)."""
    label = labels["command"]
    try:
        argv = shlex.split(command_line)
    except ValueError as error:
        raise UpstreamInputError(
            "command", f"{label}: can't split the command line: {error}"
        ) from None
    if not argv:
        raise UpstreamInputError("command", f'{label} "": expected a program to run')
    return argv


def split_pairs(
    values: Iterable[str], field: str, labels: Mapping[str, str] = CLI_LABELS
) -> list[tuple[str, str]]:
    """``KEY=VALUE`` texts (``env``) or ``Key: Value`` texts (``headers``) as pairs; a header
    value loses the blanks around it. A text without its separator is shown by its length
    only: it may be a value typed without its key."""
    separator = "=" if field == "env" else ":"
    shape = "KEY=VALUE" if field == "env" else '"KEY: VALUE"'
    pairs: list[tuple[str, str]] = []
    for text in values:
        key, found, value = text.partition(separator)
        if not found or not key.strip():
            what = f'without "{separator}"' if not found else "without a key"
            raise UpstreamInputError(
                field,
                f"{labels[field]} expects {shape}, found one {what} "
                f"(not shown, {len(text)} characters)",
            )
        pairs.append((key.strip(), value if field == "env" else value.strip()))
    return pairs


def _unique(
    pairs: Sequence[tuple[str, str]], field: str, labels: Mapping[str, str]
) -> dict[str, str]:
    unique: dict[str, str] = {}
    for key, value in pairs:
        if key in unique:
            raise UpstreamInputError(field, f'{labels[field]} "{key}" is given twice')
        unique[key] = value
    return unique


def _built(build: Callable[[], Upstream]) -> Upstream:
    """``build()``, its :class:`InvalidValue` named by the field at fault."""
    try:
        return build()
    except InvalidValue as error:
        raise UpstreamInputError(field_of(error.what), str(error)) from None


def field_of(what: str) -> str:
    """Which field an :class:`Upstream`'s own check names (``upstream "x" env KEY value``)."""
    if not what.startswith('upstream "'):
        return "name"  # "upstream name": the name itself
    detail = what.partition('" ')[2]  # a checked name has no quote in it
    first = detail.partition(" ")[0]
    return {
        "kind": "kind",
        "command": "command",
        "argument": "command",
        "cwd": "cwd",
        "env": "env",
        "url": "url",
        "header": "headers",
    }.get(first, "name")


# -- what is stored -----------------------------------------------------------------------------


def list_upstreams(control: ControlPlane) -> list[Upstream]:
    """Every registered upstream, by name."""
    return control.store.list_upstreams()


def get_upstream(control: ControlPlane, name: str) -> Upstream:
    """The upstream called ``name``; :class:`NotFound` if there is none."""
    return control.store.get_upstream(name)


def add_upstream(control: ControlPlane, upstream: Upstream, *, actor: str) -> Upstream:
    """Register ``upstream``; :class:`Conflict` if its name is taken."""
    return control.store.add_upstream(upstream, actor=actor)


def remove_upstream(control: ControlPlane, name: str, *, actor: str) -> None:
    """Remove upstream ``name``; :class:`Conflict` naming the active grants bound to it."""
    control.store.remove_upstream(name, actor=actor)


@dataclass(frozen=True, slots=True)
class Binding:
    """An active grant's binding of an upstream to a policy."""

    upstream: str
    policy: str
    grant_id: str
    grant_label: str
    expires_at: datetime | None


def active_bindings(control: ControlPlane) -> dict[str, list[Binding]]:
    """Upstream name → the bindings of active grants to it, by grant label."""
    now = control.clock.now()
    found: dict[str, list[Binding]] = {}
    for grant in sorted(control.store.list_grants(), key=lambda g: (g.label, g.id)):
        if not grant.is_active(now):
            continue
        for upstream, policy in grant.bindings.items():
            binding = Binding(upstream, policy, grant.id, grant.label, grant.expires_at)
            found.setdefault(upstream, []).append(binding)
    return found


def describe_target(upstream: Upstream) -> str:
    """What an upstream runs or reaches, as a listing shows it: the command line (and where
    it runs), or the URL with any password and query values masked."""
    if upstream.kind is UpstreamKind.STDIO:
        assert upstream.command is not None
        where = f" (in {upstream.cwd})" if upstream.cwd else ""
        return shlex.join([upstream.command, *upstream.args]) + where
    return masked_url(upstream.url) or ""


def masked_secrets(upstream: Upstream) -> str:
    """``env K=***, header Authorization: ***``: keys shown, values never."""
    env = [f"{key}=***" for key in upstream.env]
    headers = [f"{key}: ***" for key in upstream.headers]
    return ", ".join(env + headers)

"""``mcpwall apply``: bring the store in line with a declarative file, idempotently.

A config file names upstreams, policies and grants::

    upstreams:
      k8s:
        command: npx -y mcp-server-kubernetes     # or a list: [npx, -y, mcp-server-kubernetes]
        env: {KUBECONFIG: "${KUBECONFIG}"}        # ${VAR} is read from the environment
      github:
        url: https://mcp.example.com/mcp
        headers: {Authorization: "Bearer ${GITHUB_TOKEN}"}
        transport: http                           # or sse
        pinning: warn                             # enforce (the default), warn or off
    policies:
      seed: policies/seed.json                    # a file, relative to the config file
      read-only: {version: "1", default: deny, tools: {get_pod: {}}}   # or the document inline
    grants:
      - label: alice-laptop
        bind: {k8s: seed}
        expires: 30d                              # only when the grant is first issued

Everything is read and checked before anything changes: every policy compiles, every binding
names an upstream and a policy that exist (in the store or in the file). Applying the same file
twice changes nothing the second time. Objects the file doesn't mention are left alone.
A grant's bindings can't be changed in place (its token would silently gain or lose access):
a grant whose bindings differ from the file is reported, to be revoked and issued anew.
An upstream is described whole: one whose ``pinning`` is left out is set to ``enforce``.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from mcpwall.control import ControlPlane, compile_text, upstreams
from mcpwall.core import jsonpointer
from mcpwall.core.durations import parse_duration
from mcpwall.core.errors import DocumentError, InvalidValue, Problem
from mcpwall.core.registry import Pinning, Upstream, UpstreamKind
from mcpwall.core.shapes import ShapeReader

TOP_KEYS = ("upstreams", "policies", "grants")
STDIO_KEYS = ("command", "env", "cwd")
REMOTE_KEYS = ("url", "headers", "transport")
COMMON_KEYS = ("pinning",)
PINNING_MODES = tuple(mode.value for mode in Pinning)
GRANT_KEYS = ("label", "bind", "expires")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

T = TypeVar("T")


class ConfigError(DocumentError):
    """A config file for ``apply`` that is malformed or can't be applied."""

    what = "config"


@dataclass(frozen=True, slots=True)
class DesiredGrant:
    label: str
    bindings: Mapping[str, str]
    expires_in: int | None


@dataclass(frozen=True, slots=True)
class Config:
    """What a config file asks for; policies are document texts by name."""

    upstreams: tuple[Upstream, ...] = ()
    policies: Mapping[str, str] = field(default_factory=dict)
    grants: tuple[DesiredGrant, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One change ``apply`` makes: ``kind`` is ``+`` (create) or ``~`` (update)."""

    kind: str
    what: str
    name: str
    detail: str
    run: Callable[[ControlPlane, str], str | None] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Applied:
    """A step as it was carried out; ``token`` is set for a newly issued grant, shown once."""

    step: Step
    token: str | None


# -- reading the file ------------------------------------------------------------------------


def read_config(
    raw: object, *, read_text: Callable[[str], str], environ: Mapping[str, str]
) -> Config:
    """Check a loaded config document; :class:`ConfigError` lists every problem."""
    reader = _ConfigReader(read_text, environ)
    config = reader.config(raw)
    if reader.problems:
        raise ConfigError(reader.problems)
    return config


class _ConfigReader(ShapeReader):
    def __init__(self, read_text: Callable[[str], str], environ: Mapping[str, str]) -> None:
        super().__init__()
        self.read_text = read_text
        self.environ = environ

    def config(self, raw: object) -> Config:
        top = self.expect_object(raw, "", TOP_KEYS) or {}
        upstreams = self.mapping_of(top.get("upstreams", {}), "/upstreams", self.upstream)
        policies = self.mapping_of(top.get("policies", {}), "/policies", self.policy)
        grants = [
            self.grant(item, jsonpointer.join("/grants", index))
            for index, item in enumerate(self.expect_array(top.get("grants", []), "/grants"))
        ]
        return Config(
            tuple(u for u in upstreams.values() if u is not None),
            {name: text for name, text in policies.items() if text is not None},
            tuple(g for g in grants if g is not None),
        )

    def mapping_of(
        self, value: object, pointer: str, read: Callable[[str, object, str], T]
    ) -> dict[str, T]:
        if not isinstance(value, dict):
            self.problem(pointer, "expected an object of names")
            return {}
        return {
            name: read(name, item, jsonpointer.join(pointer, name)) for name, item in value.items()
        }

    def guarded(self, pointer: str, build: Callable[[], T]) -> T | None:
        """Run ``build``, turning the errors registry values raise into problems at ``pointer``."""
        try:
            return build()
        except DocumentError as exc:
            for problem in exc.problems:
                self.problem(pointer, f"{exc.what} {problem}")
        except InvalidValue as exc:
            self.problem(pointer, str(exc))
        except OSError as exc:
            self.problem(pointer, f"cannot read {exc.filename}: {exc.strerror or exc}")
        return None

    def upstream(self, name: str, value: object, pointer: str) -> Upstream | None:
        spec = self.expect_object(value, pointer, STDIO_KEYS + REMOTE_KEYS + COMMON_KEYS)
        if spec is None:
            return None
        if ("command" in spec) == ("url" in spec):
            self.problem(pointer, 'expected exactly one of "command" (stdio) or "url" (http, sse)')
            return None
        mode = self.expect_choice(
            spec.get("pinning", Pinning.ENFORCE.value), pointer + "/pinning", PINNING_MODES
        )
        pinning = Pinning.ENFORCE if mode is None else Pinning(mode)
        if "command" in spec:
            extra = [key for key in REMOTE_KEYS if key in spec]
            argv = self.command(spec["command"], pointer + "/command")
            env = self.strings(spec.get("env", {}), pointer + "/env")
            cwd = self.expect_string(spec["cwd"], pointer + "/cwd") if "cwd" in spec else None
            if extra:
                self.problem(
                    pointer, f"{', '.join(extra)} apply to url upstreams, not to a command"
                )
            if not argv or env is None or mode is None:
                return None
            return self.guarded(
                pointer,
                lambda: Upstream.stdio(name, argv[0], tuple(argv[1:]), env, cwd, pinning=pinning),
            )
        extra = [key for key in STDIO_KEYS if key in spec]
        if extra:
            self.problem(pointer, f"{', '.join(extra)} apply to command upstreams, not to a url")
        url = self.expect_string(spec["url"], pointer + "/url")
        headers = self.strings(spec.get("headers", {}), pointer + "/headers")
        transport = self.expect_choice(
            spec.get("transport", "http"), pointer + "/transport", ("http", "sse")
        )
        if url is None or headers is None or transport is None or extra or mode is None:
            return None
        return self.guarded(
            pointer,
            lambda: Upstream.remote(name, url, headers, UpstreamKind(transport), pinning=pinning),
        )

    def command(self, value: object, pointer: str) -> list[str]:
        if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
            return [str(part) for part in value]
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                self.problem(pointer, f"can't split the command: {exc}")
                return []
            if argv:
                return argv
        self.problem(pointer, "expected a command line (a string, or a list of strings)")
        return []

    def strings(self, value: object, pointer: str) -> dict[str, str] | None:
        """An object of string values, with ``${VAR}`` taken from the environment."""
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.problem(pointer, "expected an object whose values are strings")
            return None
        return {
            key: self.expand(text, jsonpointer.join(pointer, key)) for key, text in value.items()
        }

    def expand(self, text: str, pointer: str) -> str:
        def variable(match: re.Match[str]) -> str:
            name = match[1]
            if name not in self.environ:
                self.problem(pointer, f"environment variable {name} is not set")
                return ""
            return self.environ[name]

        return _VARIABLE.sub(variable, text)

    def policy(self, name: str, value: object, pointer: str) -> str | None:
        if isinstance(value, str):
            text = self.guarded(pointer, lambda: self.read_text(value))
        elif isinstance(value, dict):
            text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
        else:
            self.problem(pointer, "expected a file path or an inline policy document")
            return None
        if text is None:
            return None
        compiled = self.guarded(pointer, lambda: compile_text(text, name=name))
        return text if compiled is not None else None

    def grant(self, value: object, pointer: str) -> DesiredGrant | None:
        spec = self.expect_object(value, pointer, GRANT_KEYS, required=("label", "bind"))
        if spec is None:
            return None
        label = self.expect_string(spec.get("label"), pointer + "/label")
        bindings = self.strings(spec.get("bind", {}), pointer + "/bind")
        expires = spec.get("expires")
        expires_in = None
        if expires is not None:
            text = self.expect_string(expires, pointer + "/expires")
            expires_in = self.guarded(pointer + "/expires", lambda: parse_duration(text or ""))
        if label is None or bindings is None:
            return None
        return DesiredGrant(label, bindings, expires_in)


# -- planning and applying --------------------------------------------------------------------


def plan(control: ControlPlane, config: Config) -> list[Step]:
    """The changes that make the store match ``config``; raises :class:`ConfigError` first
    for a change that can't be made (a binding to nothing, a grant whose bindings differ)."""
    store = control.store
    steps: list[Step] = []
    current = {u.name: u for u in store.list_upstreams()}
    for wanted in config.upstreams:
        have = current.get(wanted.name)
        if have is None:
            steps.append(
                Step("+", "upstream", wanted.name, wanted.kind.value, _add_upstream(wanted))
            )
        elif have != wanted:
            steps.append(
                Step(
                    "~",
                    "upstream",
                    wanted.name,
                    _upstream_changes(have, wanted),
                    _update_upstream(wanted),
                )
            )
    policies = {p.name: p for p in store.list_policies()}
    for name, text in config.policies.items():
        if name not in policies:
            detail = f"version 1 ({len(text.splitlines())} lines)"
            steps.append(Step("+", "policy", name, detail, _set_policy(name, text)))
        elif policies[name].text != text:
            diff = _text_diff(policies[name].text, text)
            detail = f"version {policies[name].version + 1}\n{diff}"
            steps.append(Step("~", "policy", name, detail, _set_policy(name, text)))
    steps += _grant_steps(
        control,
        config,
        set(current) | {u.name for u in config.upstreams},
        set(policies) | set(config.policies),
    )
    return steps


def _grant_steps(
    control: ControlPlane, config: Config, upstreams: set[str], policies: set[str]
) -> list[Step]:
    now = control.clock.now()
    active = {g.label: g for g in control.store.list_grants() if g.is_active(now)}
    problems: list[Problem] = []
    steps: list[Step] = []
    for index, wanted in enumerate(config.grants):
        pointer = f"/grants/{index}"
        for upstream, policy in sorted(wanted.bindings.items()):
            if upstream not in upstreams:
                problems.append(
                    Problem(
                        pointer + "/bind",
                        f'upstream "{upstream}" is neither stored nor in this file',
                    )
                )
            if policy not in policies:
                problems.append(
                    Problem(
                        pointer + "/bind", f'policy "{policy}" is neither stored nor in this file'
                    )
                )
        have = active.get(wanted.label)
        if have is None:
            bindings = ", ".join(f"{u}={p}" for u, p in sorted(wanted.bindings.items()))
            steps.append(Step("+", "grant", wanted.label, bindings, _issue_grant(wanted)))
        elif dict(have.bindings) != dict(wanted.bindings):
            message = (
                f'active grant "{wanted.label}" ({have.id}) has other bindings; revoke it first to '
                "issue it anew (a token never changes its access in place)"
            )
            problems.append(Problem(pointer, message))
    if problems:
        raise ConfigError(problems)
    return steps


def apply(control: ControlPlane, steps: list[Step], *, actor: str) -> list[Applied]:
    """Carry out planned steps in order (upstreams, then policies, then grants)."""
    return [Applied(step, step.run(control, actor)) for step in steps]


def _add_upstream(upstream: Upstream) -> Callable[[ControlPlane, str], None]:
    def run(control: ControlPlane, actor: str) -> None:
        upstreams.add_upstream(control, upstream, actor=actor)

    return run


def _update_upstream(upstream: Upstream) -> Callable[[ControlPlane, str], None]:
    def run(control: ControlPlane, actor: str) -> None:
        control.store.update_upstream(upstream, actor=actor)

    return run


def _set_policy(name: str, text: str) -> Callable[[ControlPlane, str], None]:
    def run(control: ControlPlane, actor: str) -> None:
        control.set_policy(name, text, actor=actor)

    return run


def _issue_grant(wanted: DesiredGrant) -> Callable[[ControlPlane, str], str]:
    def run(control: ControlPlane, actor: str) -> str:
        return control.issue_grant(
            wanted.label, wanted.bindings, expires_in=wanted.expires_in, actor=actor
        ).token

    return run


def _upstream_changes(have: Upstream, wanted: Upstream) -> str:
    """What differs, naming fields and keys, never secret values."""
    changed = [
        name
        for name in ("kind", "command", "args", "cwd", "url")
        if getattr(have, name) != getattr(wanted, name)
    ]
    if have.pinning is not wanted.pinning:
        changed.append(f"pinning {have.pinning.value} → {wanted.pinning.value}")
    for name in ("env", "headers"):
        old, new = dict(getattr(have, name)), dict(getattr(wanted, name))
        if old != new:
            keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            changed.append(f"{name} {', '.join(keys)}")
    return "changed: " + "; ".join(changed)


def _text_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "stored", "file", lineterm="", n=1
    )
    return "\n".join(lines)

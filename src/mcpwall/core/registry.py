"""What the control plane keeps: upstreams, policy versions, grants and admin tokens.

Plain frozen values, checked when built, so a malformed one cannot exist. Whether a grant or
token is active depends on the time, which is passed in (``grant.status(now)``), never read.
An :class:`Upstream` holds its secrets (env and header values) as plain text: they are
encrypted by the store that writes them, and its ``repr`` masks them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from mcpwall.core.errors import Conflict, InvalidValue, NotFound
from mcpwall.core.names import check_name
from mcpwall.core.tokens import check_token_hash

GRANT_ID_PREFIX = "grt"
ADMIN_ID_PREFIX = "adm"

_URL = re.compile(r"https?://[^\x00-\x20\x7f/?#]+(?:[/?#][^\x00-\x20\x7f]*)?", re.IGNORECASE)
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # RFC 9110 "token"
_HEADER_VALUE = re.compile(r"[^\r\n\x00]*")  # a CR or LF would inject another header


class UpstreamKind(StrEnum):
    """How the gateway talks to an upstream."""

    STDIO = "stdio"  # a command it spawns, JSON-RPC over stdin/stdout
    HTTP = "http"  # a Streamable HTTP endpoint
    SSE = "sse"  # a legacy HTTP+SSE endpoint


_KINDS = frozenset(kind.value for kind in UpstreamKind)


class Pinning(StrEnum):
    """What the gateway does with a tool whose definition differs from its pin (``core.pins``)."""

    ENFORCE = "enforce"  # withhold it until a person accepts the new definition
    WARN = "warn"  # serve it, and mark every listing and call in the proxy log
    OFF = "off"  # keep no pins


_PINNING = frozenset(mode.value for mode in Pinning)


@dataclass(frozen=True, slots=True, repr=False)
class Upstream:
    """A registered MCP server: a command to spawn (stdio) or a URL (http, sse).

    ``env`` and ``headers`` values are secrets. Build one with :meth:`stdio` or :meth:`remote`.
    """

    name: str
    kind: UpstreamKind
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    pinning: Pinning = Pinning.ENFORCE

    @classmethod
    def stdio(
        cls,
        name: str,
        command: str,
        args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        *,
        pinning: Pinning = Pinning.ENFORCE,
    ) -> Upstream:
        """An upstream spawned as ``command *args`` with extra ``env``, in ``cwd``."""
        return cls(
            name,
            UpstreamKind.STDIO,
            command=command,
            args=args,
            env=env or {},
            cwd=cwd,
            pinning=pinning,
        )

    @classmethod
    def remote(
        cls,
        name: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        kind: UpstreamKind = UpstreamKind.HTTP,
        *,
        pinning: Pinning = Pinning.ENFORCE,
    ) -> Upstream:
        """An upstream reached at ``url`` (Streamable HTTP, or legacy SSE), sending ``headers``."""
        return cls(name, kind, url=url, headers=headers or {}, pinning=pinning)

    def __post_init__(self) -> None:
        check_name(self.name, "upstream name")
        if self.kind not in _KINDS:
            raise InvalidValue(f'upstream "{self.name}" kind', self.kind, "one of stdio, http, sse")
        if self.pinning not in _PINNING:
            expected = "one of enforce, warn, off"
            raise InvalidValue(f'upstream "{self.name}" pinning', str(self.pinning), expected)
        # Copies behind read-only views: neither the caller nor a reader can change a stored value.
        object.__setattr__(self, "kind", UpstreamKind(self.kind))
        object.__setattr__(self, "pinning", Pinning(self.pinning))
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        if self.kind is UpstreamKind.STDIO:
            self._check_stdio()
        else:
            self._check_remote()

    def _check_stdio(self) -> None:
        where = f'upstream "{self.name}"'
        if self.url is not None or self.headers:
            expected = "no url or headers (they belong to http and sse upstreams)"
            raise InvalidValue(f"{where} kind", self.kind.value, expected)
        if not self.command:
            raise InvalidValue(f"{where} command", "", "a program to run")
        _check_no_nul(f"{where} command", self.command)
        for arg in self.args:
            _check_no_nul(f"{where} argument", arg)
        if self.cwd is not None:
            _check_no_nul(f"{where} cwd", self.cwd)
        for key, value in self.env.items():
            if _ENV_KEY.fullmatch(key) is None:
                raise InvalidValue(
                    f"{where} env key", key, "a letter or _, then letters, digits, _"
                )
            _check_no_nul(f"{where} env {key} value", value, secret=True)

    def _check_remote(self) -> None:
        where = f'upstream "{self.name}"'
        if self.command is not None or self.args or self.env or self.cwd is not None:
            expected = "no command, args, env or cwd (they belong to stdio upstreams)"
            raise InvalidValue(f"{where} kind", self.kind.value, expected)
        if self.url is None or _URL.fullmatch(self.url) is None:
            raise InvalidValue(f"{where} url", self.url or "", "an http:// or https:// URL")
        _check_no_nul(f"{where} url", self.url)
        for name, value in self.headers.items():
            if _HEADER_NAME.fullmatch(name) is None:
                raise InvalidValue(f"{where} header name", name, "an HTTP header name")
            if _HEADER_VALUE.fullmatch(value) is None:
                expected = "a value without line breaks"
                raise InvalidValue(f"{where} header {name} value", value, expected, secret=True)
            _check_no_nul(f"{where} header {name} value", value, secret=True)

    def __repr__(self) -> str:
        # Secrets never reach a log line or a traceback through repr: values are masked.
        env = dict.fromkeys(self.env, "***")
        headers = dict.fromkeys(self.headers, "***")
        return (
            f"Upstream(name={self.name!r}, kind={self.kind.value!r}, command={self.command!r}, "
            f"args={self.args!r}, env={env!r}, cwd={self.cwd!r}, url={self.url!r}, "
            f"headers={headers!r}, pinning={self.pinning.value!r})"
        )


def _check_no_nul(what: str, value: str, *, secret: bool = False) -> None:
    """Text that can be stored and passed to a process: no NUL, and valid Unicode (a command
    line can carry undecodable bytes, which arrive as lone surrogates)."""
    if "\x00" in value:
        raise InvalidValue(what, value, "text without NUL characters", secret=secret)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise InvalidValue(what, shown, "valid UTF-8 text", secret=secret) from None


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One stored version of a named policy: ``text`` is the document exactly as it was set."""

    name: str
    version: int
    text: str
    created_at: datetime
    created_by: str


class Status(StrEnum):
    """Whether a grant or admin token authenticates anything."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


def status_at(now: datetime, expires_at: datetime | None, revoked_at: datetime | None) -> Status:
    """Revoked wins over expired; a token expires at ``expires_at`` exactly."""
    if revoked_at is not None:
        return Status.REVOKED
    if expires_at is not None and now >= expires_at:
        return Status.EXPIRED
    return Status.ACTIVE


@dataclass(frozen=True, slots=True)
class Grant:
    """Data-plane access for one agent: a token (kept as its hash) and ``upstream → policy``."""

    id: str
    label: str
    token_hash: str
    bindings: Mapping[str, str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bindings", MappingProxyType(dict(self.bindings)))

    def status(self, now: datetime) -> Status:
        return status_at(now, self.expires_at, self.revoked_at)

    def is_active(self, now: datetime) -> bool:
        """Whether the grant authenticates at ``now``: neither revoked nor expired."""
        return self.status(now) is Status.ACTIVE


class Role(StrEnum):
    """What an admin token may do; each role includes the ones below it."""

    VIEWER = "viewer"  # reads everything
    POLICY_MANAGER = "policy_manager"  # also sets policies
    ADMIN = "admin"  # also manages upstreams, grants and admin tokens

    def includes(self, other: Role) -> bool:
        """Whether this role may do what ``other`` may."""
        return _ROLE_RANK[self] >= _ROLE_RANK[other]


_ROLE_RANK = {Role.VIEWER: 0, Role.POLICY_MANAGER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class AdminToken:
    """Access to the admin API with a ``role``; like a grant, kept only as its hash."""

    id: str
    label: str | None
    role: Role
    token_hash: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def status(self, now: datetime) -> Status:
        return status_at(now, self.expires_at, self.revoked_at)

    def is_active(self, now: datetime) -> bool:
        return self.status(now) is Status.ACTIVE


def check_bindings(bindings: Mapping[str, str]) -> dict[str, str]:
    """Return ``bindings`` as a dict if every upstream and policy is a valid name and there is one.

    Whether they exist is checked by the store, with :func:`check_bindings_exist`.
    """
    if not bindings:
        raise InvalidValue("bindings", "", "at least one UPSTREAM=POLICY binding")
    for upstream, policy in bindings.items():
        check_name(upstream, f"binding {upstream}={policy} upstream name")
        check_name(policy, f"binding {upstream}={policy} policy name")
    return dict(bindings)


def check_bindings_exist(
    bindings: Mapping[str, str], upstreams: Collection[str], policies: Collection[str]
) -> None:
    """Raise :class:`NotFound` for the first binding whose upstream or policy is not stored."""
    for upstream, policy in sorted(bindings.items()):
        where = f"binding {upstream}={policy}"
        if upstream not in upstreams:
            raise NotFound("upstream", upstream, where=where)
        if policy not in policies:
            raise NotFound("policy", policy, where=where)


def check_actor(actor: str) -> str:
    """Return ``actor`` (who makes a change, as the audit trail shows it) if it is usable."""
    if not actor or len(actor) > 200 or not actor.isprintable():
        raise InvalidValue("actor", actor, "1 to 200 printable characters")
    return actor


def check_role(role: str) -> Role:
    """Return ``role`` as a :class:`Role`, or raise naming the roles there are."""
    if role not in _ROLE_NAMES:
        raise InvalidValue("role", role, "one of admin, policy_manager, viewer")
    return Role(role)


_ROLE_NAMES = frozenset(role.value for role in Role)


def check_expiry(expires_at: datetime | None) -> datetime | None:
    """Return ``expires_at`` if it is None or timezone-aware: a naive time means nothing."""
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidValue("expiry", expires_at.isoformat(), "a timezone-aware time")
    return expires_at


def check_new_grant(
    label: str, bindings: Mapping[str, str], token_hash: str, expires_at: datetime | None
) -> dict[str, str]:
    """Check what a new grant is made of (every store asks the same); its bindings, checked."""
    check_name(label, "grant label")
    checked = check_bindings(bindings)
    check_token_hash(token_hash)
    check_expiry(expires_at)
    return checked


def check_new_admin_token(
    role: str, token_hash: str, label: str | None, expires_at: datetime | None
) -> Role:
    """Check what a new admin token is made of (every store asks the same); its role."""
    checked = check_role(role)
    if label is not None:
        check_name(label, "admin token label")
    check_token_hash(token_hash)
    check_expiry(expires_at)
    return checked


def is_grant_id(ref: str) -> bool:
    """Whether a grant reference is an id (``grt_…``) rather than a label."""
    return ref.startswith(GRANT_ID_PREFIX + "_")


# The errors every store raises when a change meets what is stored, built in one place so
# that all stores say the same thing.


def upstream_exists(name: str) -> Conflict:
    return Conflict(f'upstream "{name}" already exists; update it, or remove it first')


def upstream_in_use(name: str, labels: Collection[str]) -> Conflict:
    return Conflict(
        f'upstream "{name}" is bound to active grants {", ".join(sorted(labels))}; '
        "revoke those grants first"
    )


def label_in_use(label: str, holder: Grant) -> Conflict:
    return Conflict(
        f'grant label "{label}" is used by active grant {holder.id}; '
        "revoke that grant first, or choose another label"
    )


def grant_not_active(grant: Grant, status: Status) -> Conflict:
    return Conflict(f'grant "{grant.label}" ({grant.id}) is {status.value}; issue a new grant')


def token_hash_in_use() -> Conflict:
    return Conflict("a token with this hash is already stored; generate a new token")


def policy_version_not_found(name: str, version: int, latest: int) -> NotFound:
    return NotFound("version", str(version), where=f'policy "{name}"', hint=f"latest is {latest}")

"""Grants and admin tokens as people manage them: what each grant is bound to, the limits its
calls draw on, and the changes the CLI, the admin API and the dashboard make alike.

A grant binds upstreams to policies; each policy's limits (a tool's own and ``all_tools``')
are budgets in the counter store, one per grant, per upstream or for all, as
:func:`~mcpwall.core.windows.budgets_for` names them for the gateway. :func:`grant_overviews`
lists those budgets for every grant from the policies' newest versions, which are the ones
the gateway enforces; :func:`read_usage` asks the counter store how much of each is taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mcpwall.control import ControlPlane
from mcpwall.core.errors import NotFound, PolicyError
from mcpwall.core.policy import CompiledPolicy
from mcpwall.core.policy.model import Limit
from mcpwall.core.registry import AdminToken, Grant, Status
from mcpwall.core.windows import Budget, budgets_for
from mcpwall.ports.counters import CounterStore

__all__ = [
    "STATUS_ORDER",
    "BoundPolicy",
    "GrantOverview",
    "LimitInUse",
    "binding_choices",
    "get_admin_token",
    "get_grant",
    "grant_overviews",
    "list_admin_tokens",
    "policy_limits",
    "read_usage",
    "revoke_admin_token",
    "revoke_grant",
]

# How lists show grants and tokens: those that work first, then those that ran out.
STATUS_ORDER = (Status.ACTIVE, Status.EXPIRED, Status.REVOKED)


@dataclass(frozen=True, slots=True)
class LimitInUse:
    """One limit of a bound policy and the budget this grant's calls draw on for it.

    ``tool`` is the tool whose entry holds the limit, or None for ``all_tools``.
    """

    tool: str | None
    limit: Limit
    budget: Budget


@dataclass(frozen=True, slots=True)
class BoundPolicy:
    """One binding ``upstream → policy`` of a grant, with the policy's limits.

    ``version`` is the policy's newest version, the one the gateway enforces; ``problem`` says
    why there is none to read (the policy is missing, or no longer compiles).
    """

    upstream: str
    policy: str
    version: int | None
    limits: tuple[LimitInUse, ...] = ()
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class GrantOverview:
    """A grant, its status at the time asked, and its bindings with their limits."""

    grant: Grant
    status: Status
    bindings: tuple[BoundPolicy, ...]

    @property
    def budgets(self) -> tuple[Budget, ...]:
        return tuple(used.budget for bound in self.bindings for used in bound.limits)


def policy_limits(policy: CompiledPolicy) -> tuple[tuple[str | None, Limit], ...]:
    """Every limit a call under ``policy`` may draw on, with the tool that holds it.

    ``all_tools`` first, then each tool's own, in the document's order. A hidden tool's
    limits never apply (its calls are refused as unknown), so they are left out, as are all
    of them when the policy hides every tool.
    """
    if policy.hide_all:
        return ()
    found: list[tuple[str | None, Limit]] = [(None, limit) for limit in policy.all_tools_limits]
    shared = len(policy.all_tools_limits)
    for name, rules in policy.tools.items():
        if not policy.is_hidden(name):
            own = rules.limits[: len(rules.limits) - shared]  # then come all_tools'
            found.extend((name, limit) for limit in own)
    return tuple(found)


def grant_overviews(control: ControlPlane, *, status: Status | None = None) -> list[GrantOverview]:
    """Every grant (or those with ``status``), active first, then by label and id."""
    now = control.clock.now()
    policies = _PolicyCache(control)
    rank = {kind: index for index, kind in enumerate(STATUS_ORDER)}
    overviews = [
        GrantOverview(grant, grant.status(now), _bindings(grant, policies))
        for grant in control.store.list_grants()
        if status is None or grant.status(now) is status
    ]
    overviews.sort(key=lambda o: (rank[o.status], o.grant.label, o.grant.id))
    return overviews


def _bindings(grant: Grant, policies: _PolicyCache) -> tuple[BoundPolicy, ...]:
    bound = []
    for upstream, name in sorted(grant.bindings.items()):
        policy = policies.get(name)
        if isinstance(policy, str):
            bound.append(BoundPolicy(upstream, name, None, problem=policy))
            continue
        limits = policy_limits(policy)
        budgets = budgets_for((limit for _, limit in limits), grant.id, upstream)
        in_use = tuple(
            LimitInUse(tool, limit, budget)
            for (tool, limit), budget in zip(limits, budgets, strict=True)
        )
        bound.append(BoundPolicy(upstream, name, policy.version, in_use))
    return tuple(bound)


class _PolicyCache:
    """Each policy's newest version compiled once per listing (grants share policies)."""

    def __init__(self, control: ControlPlane) -> None:
        self._control = control
        self._found: dict[str, CompiledPolicy | str] = {}

    def get(self, name: str) -> CompiledPolicy | str:
        """The compiled policy, or why there is none."""
        if name not in self._found:
            try:
                self._found[name] = self._control.compiled_policy(name)
            except NotFound:
                self._found[name] = f'policy "{name}" is not stored'
            except PolicyError as error:
                count = len(error.problems)
                self._found[name] = f'policy "{name}" no longer compiles ({count} problems)'
        return self._found[name]


async def read_usage(
    counters: CounterStore, budgets: Iterable[Budget], now: float
) -> dict[str, int]:
    """How many calls each budget's log holds in its window at ``now``, by log name.

    Logs that several budgets share (an upstream or global scope, or one grant's two
    bindings to one policy) are asked for once. Raises
    :class:`~mcpwall.core.errors.LimitsUnavailable` when the store can't be read.
    """
    distinct = list({budget.log: budget for budget in budgets}.values())
    counts = await counters.usage(distinct, now)
    return {budget.log: count for budget, count in zip(distinct, counts, strict=True)}


def binding_choices(control: ControlPlane) -> tuple[list[str], list[str]]:
    """The names a new grant may bind: stored upstreams and stored policies, sorted."""
    upstreams = sorted(upstream.name for upstream in control.store.list_upstreams())
    policies = sorted(policy.name for policy in control.store.list_policies())
    return upstreams, policies


def revoke_grant(control: ControlPlane, ref: str, *, actor: str) -> Grant:
    """Revoke a grant (by id or label) now: its token is refused from the next request on.

    Revoking a grant that is already revoked changes nothing.
    """
    return control.store.revoke_grant(ref, actor=actor)


def list_admin_tokens(control: ControlPlane) -> list[AdminToken]:
    """Every admin token (never the token itself: the store has only its hash)."""
    return control.store.list_admin_tokens()


def revoke_admin_token(control: ControlPlane, token_id: str, *, actor: str) -> AdminToken:
    """Revoke an admin token now; the dashboard sessions opened with it end with it."""
    return control.store.revoke_admin_token(token_id, actor=actor)


def get_grant(control: ControlPlane, ref: str) -> Grant:
    """A grant by id or by the label an active grant holds; :class:`NotFound` if none."""
    return control.store.get_grant(ref)


def get_admin_token(control: ControlPlane, token_id: str) -> AdminToken:
    """An admin token by id; :class:`NotFound` if none."""
    return control.store.get_admin_token(token_id)

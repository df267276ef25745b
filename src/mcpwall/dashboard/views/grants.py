"""Grants: who may call which upstream under which policy, and how much of each limit is used.

Every viewer sees the list; admins also issue, rotate and revoke, through the same
control-plane operations as ``mcpwall grant`` and ``/api/grants``. A new token is shown once,
in the answer to the request that made it (never in a URL; pages are ``no-store``).

Usage is read from the data plane's counter store, which is asynchronous while views run in a
worker thread: :func:`read_usage` hands the read to the event loop that runs the dashboard
(``anyio.from_thread``), which is the loop the gateway's own reservations run on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import anyio.from_thread
from starlette.responses import RedirectResponse, Response

from mcpwall.control import grants
from mcpwall.control.grants import STATUS_ORDER, GrantOverview
from mcpwall.core.errors import Conflict, InvalidValue, LimitsUnavailable, NotFound
from mcpwall.core.names import check_name
from mcpwall.core.registry import Status
from mcpwall.core.windows import Budget
from mcpwall.dashboard.forms import expiry_field
from mcpwall.dashboard.pages import Page, PageCall

STATUS_CHOICES = ("all", *(status.value for status in STATUS_ORDER))
BIND_PREFIX = "bind."  # a new grant's form: one select per upstream, "bind.NAME" = policy
NO_COUNTERS = (
    "Usage is unavailable: this admin server was started without the gateway's counter "
    "store (mcpwall serve shows it). The limits below are what the policies allow."
)


@dataclass(frozen=True, slots=True)
class Usage:
    """What the counter store said: calls counted per log, or why it could not say."""

    used: Mapping[str, int]
    problem: str | None = None


def show(call: PageCall) -> Page:
    """Every grant (or those with ``?status=``), active first, with its limits' usage."""
    chosen = call.query.get("status", "all") or "all"
    errors: dict[str, str] = {}
    if chosen not in STATUS_CHOICES:
        errors["status"] = str(
            InvalidValue("status", chosen, "one of " + ", ".join(STATUS_CHOICES))
        )
        overviews: list[GrantOverview] = []
    else:
        status = None if chosen == "all" else Status(chosen)
        overviews = grants.grant_overviews(call.control, status=status)
    usage = read_usage(call, (b for o in overviews for b in o.budgets))
    context = {
        "overviews": overviews,
        "usage": usage,
        "status": chosen,
        "statuses": STATUS_CHOICES,
        "errors": errors,
        "notice": _notice(call, overviews),
    }
    return Page("grants.html", context, block="grants", status=422 if errors else 200)


def read_usage(call: PageCall, budgets: Iterable[Budget]) -> Usage:
    """How much of each budget is used now, by log; a problem instead when it can't be read."""
    counters = call.services.counters
    if counters is None:
        return Usage({}, NO_COUNTERS)
    wanted = list(budgets)
    if not wanted:
        return Usage({})
    try:
        used = anyio.from_thread.run(grants.read_usage, counters, wanted, call.now.timestamp())
    except LimitsUnavailable as error:
        return Usage({}, f"Usage is unavailable: {error}")
    return Usage(used)


def _notice(call: PageCall, overviews: list[GrantOverview]) -> str:
    """What the last change did, after its redirect here (``?revoked=ID``)."""
    revoked = call.query.get("revoked")
    for overview in overviews:
        if overview.grant.id == revoked:
            return (
                f"Revoked grant {overview.grant.label} ({overview.grant.id}): the agent's next "
                "call with its token is refused with 401 Unauthorized."
            )
    return ""


# -- issuing ---------------------------------------------------------------------------------------


def new(call: PageCall) -> Page:
    """The form for a new grant: a label, a policy per upstream to bind, an optional expiry."""
    return _form(call, {}, {})


def issue(call: PageCall) -> Page:
    """Issue a grant from the form; on bad input, the form again with each problem at its field."""
    form = call.form
    upstreams, policies = grants.binding_choices(call.control)
    errors: dict[str, str] = {}
    label = form.get("label", "").strip()
    try:
        check_name(label, "grant label")
    except InvalidValue as error:
        errors["label"] = str(error)
    bindings: dict[str, str] = {}
    for field, policy in form.items():
        if not field.startswith(BIND_PREFIX) or not policy:
            continue
        upstream = field.removeprefix(BIND_PREFIX)
        if upstream not in upstreams:
            errors["bindings"] = f'upstream "{upstream}" is not stored (reload the form)'
        elif policy not in policies:
            errors[field] = f'policy "{policy}" for upstream "{upstream}" is not stored'
        else:
            bindings[upstream] = policy
    if not bindings and "bindings" not in errors:
        errors["bindings"] = "no policy chosen: expected a policy for at least one upstream"
    expires_in = expiry_field(form, errors)
    if errors:
        return _form(call, form, errors, status=422)
    try:
        issued = call.control.issue_grant(
            label, bindings, expires_in=expires_in, actor=call.visitor.actor
        )
    except InvalidValue as error:
        field = "label" if error.what == "grant label" else "bindings"
        return _form(call, form, {field: str(error)}, status=422)
    except Conflict as error:  # the label is held by an active grant
        return _form(call, form, {"label": str(error)}, status=409)
    except NotFound as error:  # an upstream or policy went away since the form was made
        return _form(call, form, {"bindings": str(error)}, status=404)
    context = {"grant": issued.grant, "token": issued.token, "verb": "issued"}
    return Page("grant_token.html", context)


def _form(
    call: PageCall, values: Mapping[str, str], errors: Mapping[str, str], status: int = 200
) -> Page:
    upstreams, policies = grants.binding_choices(call.control)
    context = {
        "upstreams": upstreams,
        "policies": policies,
        "values": values,
        "errors": errors,
        "bind_prefix": BIND_PREFIX,
    }
    return Page("grant_new.html", context, status=status)


# -- revoking and rotating -------------------------------------------------------------------------


def confirm_revoke(call: PageCall) -> Page:
    grant = grants.get_grant(call.control, call.params["ref"])
    return Page("grant_confirm.html", {"grant": grant, "action": "revoke"})


def revoke(call: PageCall) -> Response:
    """Revoke, then back to the list, which says what happened (and a reload changes nothing)."""
    grant = grants.revoke_grant(call.control, call.params["ref"], actor=call.visitor.actor)
    return RedirectResponse(f"/grants?revoked={grant.id}", status_code=303)


def confirm_rotate(call: PageCall) -> Page:
    grant = grants.get_grant(call.control, call.params["ref"])
    return Page("grant_confirm.html", {"grant": grant, "action": "rotate"})


def rotate(call: PageCall) -> Page:
    """A new token for an active grant, shown once; the old one stops working at once."""
    rotated = call.control.rotate_grant(call.params["ref"], actor=call.visitor.actor)
    context = {"grant": rotated.grant, "token": rotated.token, "verb": "rotated"}
    return Page("grant_token.html", context)

"""Admin tokens: who may use the admin API and this dashboard, and with which role.

Admins only, to look at as to change: the list tells who can change what. Creating one shows
its token once; revoking one ends every dashboard session opened with it at once (the store
ends them with the token), whichever browser holds them.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import RedirectResponse, Response

from mcpwall.control import grants
from mcpwall.control.grants import STATUS_ORDER
from mcpwall.core.errors import InvalidValue
from mcpwall.core.names import check_name
from mcpwall.core.registry import Role
from mcpwall.dashboard.forms import expiry_field
from mcpwall.dashboard.pages import Page, PageCall

ROLES = (Role.VIEWER, Role.POLICY_MANAGER, Role.ADMIN)
ROLE_NAMES = tuple(role.value for role in ROLES)


def show(call: PageCall) -> Page:
    """Every admin token, active first, then newest first."""
    rank = {status: index for index, status in enumerate(STATUS_ORDER)}
    tokens = sorted(
        grants.list_admin_tokens(call.control), key=lambda t: t.created_at, reverse=True
    )
    tokens.sort(key=lambda t: rank[t.status(call.now)])
    revoked = call.query.get("revoked")
    notice = ""
    for token in tokens:
        if token.id == revoked:
            notice = (
                f"Revoked admin token {token.label or token.id}: it no longer opens the API, and "
                "every dashboard session opened with it has ended."
            )
    context = {"tokens": tokens, "notice": notice, "mine": call.visitor.login.admin_token.id}
    return Page("admin_tokens.html", context)


def new(call: PageCall) -> Page:
    return _form({}, {})


def create(call: PageCall) -> Page:
    """Create an admin token from the form, or the form again with each problem at its field."""
    form = call.form
    errors: dict[str, str] = {}
    role = form.get("role", "")
    if role not in ROLE_NAMES:
        errors["role"] = str(InvalidValue("role", role, "one of " + ", ".join(ROLE_NAMES)))
    label = form.get("label", "").strip() or None
    if label is not None:
        try:
            check_name(label, "admin token label")
        except InvalidValue as error:
            errors["label"] = str(error)
    expires_in = expiry_field(form, errors)
    if errors:
        return _form(form, errors, status=422)
    created = call.control.create_admin_token(
        Role(role), label=label, expires_in=expires_in, actor=call.visitor.actor
    )
    return Page(
        "admin_token_created.html", {"created": created.admin_token, "token": created.token}
    )


def _form(values: Mapping[str, str], errors: Mapping[str, str], status: int = 200) -> Page:
    context = {"values": values, "errors": errors, "roles": ROLE_NAMES}
    return Page("admin_token_new.html", context, status=status)


def confirm_revoke(call: PageCall) -> Page:
    token = grants.get_admin_token(call.control, call.params["id"])
    mine = token.id == call.visitor.login.admin_token.id
    return Page("admin_token_confirm.html", {"token": token, "mine": mine})


def revoke(call: PageCall) -> Response:
    """Revoke, then back to the list (or, for one's own token, to the login page)."""
    token = grants.revoke_admin_token(call.control, call.params["id"], actor=call.visitor.actor)
    return RedirectResponse(f"/admin-tokens?revoked={token.id}", status_code=303)

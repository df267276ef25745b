"""``/api/admin-tokens``: tokens for this API and the dashboard, each with a role.

Creating one answers with its token, once; the store keeps only its hash.
"""

from __future__ import annotations

from mcpwall.admin.body import Fields
from mcpwall.admin.endpoint import Call, Reply
from mcpwall.control.grants import revoke_admin_token as revoke
from mcpwall.control.views import admin_token_view
from mcpwall.core.durations import MAX_SECONDS
from mcpwall.core.registry import Role

ROLES = tuple(role.value for role in Role)


def list_admin_tokens(call: Call) -> Reply:
    now = call.control.clock.now()
    tokens = [admin_token_view(t, now) for t in call.store.list_admin_tokens()]
    return Reply({"admin_tokens": tokens})


def create_admin_token(call: Call) -> Reply:
    fields = Fields.parse(call.body)
    role = fields.choice("role", ROLES, required=True)
    label = fields.optional_text("label")
    expires_in = fields.whole_number("expires_in", 1, MAX_SECONDS)
    fields.close()
    assert role is not None  # required: close() refused its absence
    issued = call.control.create_admin_token(
        Role(role), label=label, expires_in=expires_in, actor=call.actor
    )
    view = admin_token_view(issued.admin_token, call.control.clock.now())
    return Reply({**view, "token": issued.token}, 201)


def revoke_admin_token(call: Call) -> Reply:
    revoked = revoke(call.control, call.params["id"], actor=call.actor)
    return Reply(admin_token_view(revoked, call.control.clock.now()))

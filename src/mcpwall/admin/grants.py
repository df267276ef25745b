"""``/api/grants``: data-plane access, one grant per agent per environment.

Issuing or rotating a grant answers with its token: the only time it is ever shown. A grant
is referred to by its id (``grt_…``) or by the label it holds.
"""

from __future__ import annotations

from mcpwall.admin.body import Fields
from mcpwall.admin.endpoint import Call, Reply
from mcpwall.control import IssuedGrant
from mcpwall.control.grants import revoke_grant as revoke
from mcpwall.control.views import grant_view
from mcpwall.core.durations import MAX_SECONDS


def list_grants(call: Call) -> Reply:
    now = call.control.clock.now()
    return Reply({"grants": [grant_view(g, now) for g in call.store.list_grants()]})


def get_grant(call: Call) -> Reply:
    grant = call.store.get_grant(call.params["ref"])
    return Reply(grant_view(grant, call.control.clock.now()))


def issue_grant(call: Call) -> Reply:
    """Issue a grant binding upstreams to policies; 404 names an unknown one, 409 a taken label."""
    fields = Fields.parse(call.body)
    label = fields.text("label")
    bindings = fields.text_map("bindings")
    expires_in = fields.whole_number("expires_in", 1, MAX_SECONDS)
    fields.close()
    issued = call.control.issue_grant(label, bindings, expires_in=expires_in, actor=call.actor)
    return with_token(call, issued, 201)


def revoke_grant(call: Call) -> Reply:
    grant = revoke(call.control, call.params["ref"], actor=call.actor)
    return Reply(grant_view(grant, call.control.clock.now()))


def rotate_grant(call: Call) -> Reply:
    """A new token for an active grant; the old one stops working at once."""
    return with_token(call, call.control.rotate_grant(call.params["ref"], actor=call.actor))


def with_token(call: Call, issued: IssuedGrant, status: int = 200) -> Reply:
    view = grant_view(issued.grant, call.control.clock.now())
    return Reply({**view, "token": issued.token}, status)

"""The admin HTTP API (DESIGN §5): upstreams, policies, grants, admin tokens, audit trail.

A Starlette app over a :class:`~mcpwall.control.ControlPlane`, served on the admin port by
``mcpwall serve``. Requests carry an admin token (``Authorization: Bearer mcpwa_…``); every
change is made through the store with the token as the actor, so the audit trail says who.
The contract is the OpenAPI document at ``/api/openapi.json`` (:mod:`mcpwall.admin.openapi`).
"""

from mcpwall.admin.app import create_admin_app

__all__ = ["create_admin_app"]

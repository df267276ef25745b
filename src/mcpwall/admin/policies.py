"""``/api/policies``: named, versioned policy documents.

``PUT /api/policies/{name}`` takes the document exactly as a file holds it, JSON or YAML,
validates it with the engine (an invalid one is never stored: 422 with every problem), and
stores it as the next version. Versions are read back with their exact text.
"""

from __future__ import annotations

from mcpwall.admin.endpoint import Call, Reply
from mcpwall.control.views import policy_view
from mcpwall.core.names import check_name
from mcpwall.core.queryvalues import whole_number

# Versions are stored as 32-bit integers.
MAX_VERSION = 2**31 - 1


def list_policies(call: Call) -> Reply:
    """Every policy at its current version: when it was set, and by whom."""
    return Reply({"policies": [policy_view(p) for p in call.store.list_policies()]})


def set_policy(call: Call) -> Reply:
    name = check_name(call.params["name"], "policy name")
    result = call.control.set_policy(name, call.body, actor=call.actor, source=f"policy {name}")
    warnings = [{"pointer": w.pointer, "message": w.message} for w in result.warnings]
    return Reply({**policy_view(result.version), "warnings": warnings})


def get_policy(call: Call) -> Reply:
    """The current version, with its text."""
    return Reply(policy_view(call.store.get_policy(call.params["name"]), with_text=True))


def list_versions(call: Call) -> Reply:
    versions = call.store.list_policy_versions(call.params["name"])
    return Reply({"versions": [policy_view(v) for v in versions]})


def get_version(call: Call) -> Reply:
    version = whole_number(call.params["version"], "policy version", 1, MAX_VERSION)
    stored = call.store.get_policy(call.params["name"], version)
    return Reply(policy_view(stored, with_text=True))

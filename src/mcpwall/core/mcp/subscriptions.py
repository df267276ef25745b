"""``subscriptions/listen`` (2026-07-28): filters, and the messages of a listen stream.

On the 2026-07-28 era change notifications travel only on a listen stream, the answer to a
``subscriptions/listen`` request that stays open. The client names what it wants to hear in
a filter (``toolsListChanged``, ``promptsListChanged``, ``resourcesListChanged``,
``resourceSubscriptions``); the server first acknowledges the subset it honours, then tags
every notification with ``_meta["io.modelcontextprotocol/subscriptionId"]`` (the listen
request's id), and ends gracefully with a ``resultType: "complete"`` result
(research/mcp-protocol.md §1.11; ``2026-07-28/basic/patterns/subscriptions.mdx``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from mcpwall.core.errors import InvalidParams
from mcpwall.core.jsonrpc import describe

LISTEN: Final = "subscriptions/listen"
ACKNOWLEDGED: Final = "notifications/subscriptions/acknowledged"
SUBSCRIPTION_ID_KEY: Final = "io.modelcontextprotocol/subscriptionId"
TOOLS_CHANGED: Final = "notifications/tools/list_changed"
PROMPTS_CHANGED: Final = "notifications/prompts/list_changed"
RESOURCES_CHANGED: Final = "notifications/resources/list_changed"
RESOURCE_UPDATED: Final = "notifications/resources/updated"
MAX_SUBSCRIBED_URIS: Final = 1_000  # per listen request: each one may cost an upstream call

_FLAGS: Final = {
    "toolsListChanged": TOOLS_CHANGED,
    "promptsListChanged": PROMPTS_CHANGED,
    "resourcesListChanged": RESOURCES_CHANGED,
}


@dataclass(frozen=True, slots=True)
class Interest:
    """What a listen stream hears: list changes by kind, and updates of resources by URI."""

    tools: bool = False
    prompts: bool = False
    resources: bool = False
    uris: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return self.tools or self.prompts or self.resources or bool(self.uris)

    def __or__(self, other: Interest) -> Interest:
        return Interest(
            self.tools or other.tools,
            self.prompts or other.prompts,
            self.resources or other.resources,
            self.uris | other.uris,
        )

    def __and__(self, other: Interest) -> Interest:
        return Interest(
            self.tools and other.tools,
            self.prompts and other.prompts,
            self.resources and other.resources,
            self.uris & other.uris,
        )

    def hears(self, message: Mapping[str, object]) -> bool:
        """Whether a change notification is one this interest asked for.

        A resource update is heard for a subscribed URI or one beneath it (the spec lets a
        server name a sub-resource of the one subscribed to).
        """
        method = message.get("method")
        if method == TOOLS_CHANGED:
            return self.tools
        if method == PROMPTS_CHANGED:
            return self.prompts
        if method == RESOURCES_CHANGED:
            return self.resources
        if method == RESOURCE_UPDATED:
            params = message.get("params")
            uri = params.get("uri") if isinstance(params, dict) else None
            return isinstance(uri, str) and _beneath_any(uri, self.uris)
        return False

    def to_wire(self) -> dict[str, object]:
        """The ``SubscriptionFilter`` object: only what is on (false flags are left out)."""
        wire: dict[str, object] = {
            name: True
            for name, on in (
                ("toolsListChanged", self.tools),
                ("promptsListChanged", self.prompts),
                ("resourcesListChanged", self.resources),
            )
            if on
        }
        if self.uris:
            wire["resourceSubscriptions"] = sorted(self.uris)
        return wire


def every_change(*, uris: Iterable[str] = ()) -> Interest:
    """An interest in every list change (and in ``uris``)."""
    return Interest(True, True, True, frozenset(uris))


def parse_listen(params: Mapping[str, object] | None) -> Interest:
    """The filter of a ``subscriptions/listen`` request; :class:`InvalidParams` if malformed."""
    notifications = None if params is None else params.get("notifications")
    if not isinstance(notifications, dict):
        raise InvalidParams(
            f'"params.notifications": expected an object (the subscription filter), '
            f"found {describe(notifications)}"
        )
    flags: dict[str, bool] = {}
    for name in _FLAGS:
        value = notifications.get(name, False)
        if not isinstance(value, bool):
            raise InvalidParams(
                f'"params.notifications.{name}": expected a boolean, found {describe(value)}'
            )
        flags[name] = value
    return Interest(
        flags["toolsListChanged"],
        flags["promptsListChanged"],
        flags["resourcesListChanged"],
        _uris(notifications.get("resourceSubscriptions", [])),
    )


def _uris(value: object) -> frozenset[str]:
    where = '"params.notifications.resourceSubscriptions"'
    if not isinstance(value, list) or not all(isinstance(uri, str) and uri for uri in value):
        raise InvalidParams(f"{where}: expected an array of URIs, found {describe(value)}")
    if len(value) > MAX_SUBSCRIBED_URIS:
        raise InvalidParams(f"{where}: at most {MAX_SUBSCRIBED_URIS} URIs per listen request")
    return frozenset(value)


def offered(capabilities: Mapping[str, object]) -> Interest:
    """What a server that advertises ``capabilities`` can be asked to notify. Resource
    updates are all or nothing (``resources.subscribe``): ``uris`` is empty either way, see
    :func:`honoured`."""
    return Interest(
        _flag(capabilities, "tools", "listChanged"),
        _flag(capabilities, "prompts", "listChanged"),
        _flag(capabilities, "resources", "listChanged"),
    )


def honoured(requested: Interest, capabilities: Mapping[str, object]) -> Interest:
    """The part of ``requested`` a server advertising ``capabilities`` delivers."""
    kinds = offered(capabilities) & requested
    subscribe = takes_subscriptions(capabilities)
    return Interest(
        kinds.tools, kinds.prompts, kinds.resources, requested.uris if subscribe else frozenset()
    )


def takes_subscriptions(capabilities: Mapping[str, object]) -> bool:
    """Whether a server advertising ``capabilities`` tells of updates to resources."""
    return _flag(capabilities, "resources", "subscribe")


def _flag(capabilities: Mapping[str, object], feature: str, flag: str) -> bool:
    settings = capabilities.get(feature)
    return isinstance(settings, dict) and settings.get(flag) is True


def _beneath_any(uri: str, subscribed: frozenset[str]) -> bool:
    if uri in subscribed:
        return True
    return any(uri.startswith(base.rstrip("/") + "/") for base in subscribed)


# ── The messages of a listen stream ──────────────────────────────────────────────────────


def listen_params(interest: Interest) -> dict[str, object]:
    """The params of a ``subscriptions/listen`` request for ``interest`` (no envelope)."""
    return {"notifications": interest.to_wire()}


def acknowledgement(interest: Interest, subscription_id: object) -> dict[str, object]:
    """The first message of a listen stream: what it will deliver."""
    params = {"_meta": {SUBSCRIPTION_ID_KEY: subscription_id}, "notifications": interest.to_wire()}
    return {"jsonrpc": "2.0", "method": ACKNOWLEDGED, "params": params}


def tagged(message: Mapping[str, object], subscription_id: object) -> dict[str, object]:
    """A change notification as a listen stream carries it: tagged with the subscription's id
    (replacing any tag it came with, such as an upstream's own)."""
    params = message.get("params")
    known = params if isinstance(params, dict) else {}
    meta = known.get("_meta")
    stamped_meta = {
        **(meta if isinstance(meta, dict) else {}),
        SUBSCRIPTION_ID_KEY: subscription_id,
    }
    return {
        "jsonrpc": "2.0",
        "method": message.get("method"),
        "params": {**known, "_meta": stamped_meta},
    }


def closing_result(subscription_id: object) -> dict[str, object]:
    """The result that ends a listen stream gracefully (before ``resultType`` is stamped)."""
    return {"_meta": {SUBSCRIPTION_ID_KEY: subscription_id}}


def subscription_of(message: Mapping[str, object]) -> object:
    """The subscription id a message is tagged with (None when it has none)."""
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta.get(SUBSCRIPTION_ID_KEY) if isinstance(meta, dict) else None


def changes_of_kind(method: object) -> bool:
    """Whether ``method`` is one of the notifications a listen stream carries."""
    return method in (TOOLS_CHANGED, PROMPTS_CHANGED, RESOURCES_CHANGED, RESOURCE_UPDATED)

"""Prompts and resources on the aggregate ``/mcp`` endpoint: their names, URIs and pages.

``/mcp`` serves every upstream a grant is bound to, so each prompt, resource and resource
template it lists must say which upstream it belongs to, and each request naming one must go
to that upstream with the upstream's own name in it.

* **Prompts** are named like tools, ``{upstream}__{prompt}`` (see ``listing.py``);
  ``prompts/get`` and a ``completion/complete`` for a ``ref/prompt`` strip the prefix.
* **Resources and resource templates** get a gateway-owned URI that carries the upstream in
  front of the upstream's own URI, unchanged: ``mcpwall://{upstream}/{uri}``
  (``mcpwall://docs/file:///guide.md``). ``resources/read``, ``resources/subscribe`` and
  ``unsubscribe`` and a ``completion/complete`` for a ``ref/resource`` strip it again.

Why rewrite URIs rather than keep them and route by what each upstream listed:

* *Collisions.* Two upstreams often list the same URI: a grant bound to two instances of one
  server (``k8s-dev`` and ``k8s-staging``) gets every URI twice. Kept URIs make those
  resources unreadable on ``/mcp`` (routing by URI can only refuse or guess, and a guess reads
  the wrong server's data as a success); rewritten ones are all distinct, as tool names are.
* *Templates.* A prefix of literal text keeps an RFC 6570 template a template:
  ``mcpwall://docs/file:///{path}`` expands to a URI that is routed by its prefix alone.
  Routing kept URIs would mean matching every upstream's templates, and catch-alls such as
  ``file:///{path}`` match everything.
* *Updates.* ``notifications/resources/updated`` from an upstream is rewritten to the same
  form, so it names the URI the agent subscribed to. Subscriptions on ``/mcp`` therefore take
  the gateway's form only, with ``resources/subscribe`` and in a 2026-07-28 listen's
  ``resourceSubscriptions`` alike: an update could not otherwise say which upstream it came
  from.

The upstream's URI is left untouched inside the form, so its scheme is still readable, and
the form is a valid URI wherever the original was (``:`` and empty segments are allowed in a
path). What the gateway does not rewrite: URIs inside tool results, prompt messages and tool
``_meta`` (resource links, embedded resources, an app's ``ui://`` resource) — results reach
the agent untouched (DESIGN §4). Such a *raw* URI can still be read on ``/mcp``: it goes to
the only bound upstream offering resources, or else to the one upstream whose
``resources/list`` lists it exactly; when none or several do, the read is refused (-32602),
never guessed, and ``/mcp/{upstream}`` serves it.

Pages are the upstreams' own, one upstream after another in the endpoint's order, with the
gateway's sealed cursors (``cursors.py``), as ``tools/list`` on ``/mcp`` pages.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from mcpwall.core.errors import InvalidParams, UnknownTool
from mcpwall.core.jsonrpc import describe
from mcpwall.core.mcp.listing import namespaced, split_namespaced
from mcpwall.core.names import NAME_PATTERN

URI_PREFIX: Final = "mcpwall://"
RESOURCE_UPDATED: Final = "notifications/resources/updated"


def gateway_uri(upstream: str, uri: str) -> str:
    """The aggregate endpoint's URI (or URI template) for ``uri`` of ``upstream``."""
    return f"{URI_PREFIX}{upstream}/{uri}"


def split_gateway_uri(uri: str) -> tuple[str, str] | None:
    """(upstream, its own URI) for a URI of the gateway's form; None for any other URI."""
    if not uri.startswith(URI_PREFIX):
        return None
    upstream, slash, own = uri[len(URI_PREFIX) :].partition("/")
    if not slash or not own or NAME_PATTERN.fullmatch(upstream) is None:
        return None
    return upstream, own


def route_subscriptions(
    uris: Iterable[str], upstreams: Collection[str]
) -> dict[str, frozenset[str]]:
    """The resource subscriptions of an aggregate listen, by upstream: for each of
    ``upstreams`` (those that can take them), its own URIs, from the gateway URIs in ``uris``
    naming it. Any other URI is left out — a raw one names no upstream, and another upstream
    is not one of these — so the listen honours, and acknowledges, only the rest."""
    routed: dict[str, set[str]] = {}
    for uri in uris:
        split = split_gateway_uri(uri)
        if split is not None and split[0] in upstreams:
            routed.setdefault(split[0], set()).add(split[1])
    return {upstream: frozenset(own) for upstream, own in routed.items()}


# -- lists ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listing:
    """One list method of the aggregate endpoint: the result member holding its entries,
    the server capability that offers it, and the entry field renamed for ``/mcp``."""

    method: str
    key: str
    capability: str
    field: str
    rename: Callable[[str, str], str]


LISTINGS: Final[Mapping[str, Listing]] = {
    listing.method: listing
    for listing in (
        Listing("prompts/list", "prompts", "prompts", "name", namespaced),
        Listing("resources/list", "resources", "resources", "uri", gateway_uri),
        Listing(
            "resources/templates/list", "resourceTemplates", "resources", "uriTemplate", gateway_uri
        ),
    )
}


def aggregate_page(
    result: Mapping[str, object], listing: Listing, upstream: str, *, next_cursor: str | None
) -> dict[str, object]:
    """Our page for one upstream page: its entries renamed for ``/mcp`` (an entry without a
    string name or URI is dropped: nothing could ask for it), its other members, and our own
    ``next_cursor`` — never the upstream's."""
    entries = result.get(listing.key)
    renamed = [
        {**entry, listing.field: listing.rename(upstream, value)}
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and isinstance(value := entry.get(listing.field), str)
    ]
    page = {key: value for key, value in result.items() if key not in (listing.key, "nextCursor")}
    page[listing.key] = renamed
    if next_cursor is not None:
        page["nextCursor"] = next_cursor
    return page


def empty_page(listing: Listing) -> dict[str, object]:
    """The answer when no upstream of the endpoint offers ``listing``."""
    return {listing.key: []}


def listed_values(result: object, listing: Listing) -> list[str]:
    """The names or URIs an upstream's list page holds, as the upstream spells them."""
    entries = result.get(listing.key) if isinstance(result, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        value
        for entry in entries
        if isinstance(entry, dict) and isinstance(value := entry.get(listing.field), str)
    ]


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """Where one aggregate request goes, and the params to send there.

    ``asked`` is the prompt name or URI as the agent wrote it, and ``kind`` what it names
    (for refusals). ``upstream`` is None for a raw URI (not of the gateway's form): the caller
    picks the upstream that claims it in ``claimed_by``'s list, or refuses. ``rewrap`` says
    the agent used the gateway's form, so URIs in the result are put back into it.
    """

    upstream: str | None
    params: dict[str, object]
    kind: str
    asked: str
    claimed_by: Listing | None = None
    rewrap: bool = False

    def unknown(self, claimants: Sequence[str] = ()) -> InvalidParams:
        """The refusal of what this route names: bound to no upstream, or (a raw URI) listed
        by none or several of them."""
        if self.claimed_by is None:
            return InvalidParams(f"Unknown {self.kind}: {self.asked}")
        reason = (
            f"upstreams {', '.join(claimants)} all list it"
            if claimants
            else "no upstream bound to this grant lists it"
        )
        return InvalidParams(
            f"Unknown {self.kind}: {self.asked} ({reason}; use the URI /mcp lists, "
            f"{URI_PREFIX}UPSTREAM/URI, or /mcp/UPSTREAM)"
        )


ROUTED_METHODS: Final = frozenset(
    {
        "prompts/get",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "completion/complete",
    }
)


def route(method: str, params: Mapping[str, object] | None) -> Route:
    """Where an aggregate request of ``method`` (one of :data:`ROUTED_METHODS`) goes;
    :class:`InvalidParams` when its params name nothing ``/mcp`` could route."""
    if params is None:
        raise InvalidParams(f'{method} needs "params" (found no params)')
    if method == "prompts/get":
        name = _string(params, "name", method)
        upstream, prompt = _split_prompt(name)
        return Route(upstream, {**params, "name": prompt}, "prompt", name)
    if method == "completion/complete":
        return _route_completion(params)
    uri = _string(params, "uri", method)
    split = split_gateway_uri(uri)
    if split is not None:
        return Route(split[0], {**params, "uri": split[1]}, "resource", uri, rewrap=True)
    if method != "resources/read":
        raise InvalidParams(
            f"{method} on /mcp takes a resource URI as /mcp lists it "
            f"({URI_PREFIX}UPSTREAM/URI), found {describe(uri)}"
        )
    return Route(None, dict(params), "resource", uri, claimed_by=LISTINGS["resources/list"])


def _route_completion(params: Mapping[str, object]) -> Route:
    ref = params.get("ref")
    if not isinstance(ref, dict):
        raise InvalidParams(f'"params.ref": expected an object, found {describe(ref)}')
    if ref.get("type") == "ref/prompt":
        name = _string(ref, "name", "completion/complete ref")
        upstream, prompt = _split_prompt(name)
        return Route(upstream, {**params, "ref": {**ref, "name": prompt}}, "prompt", name)
    if ref.get("type") == "ref/resource":
        uri = _string(ref, "uri", "completion/complete ref")
        split = split_gateway_uri(uri)
        if split is not None:
            routed = {**params, "ref": {**ref, "uri": split[1]}}
            return Route(split[0], routed, "resource template", uri)
        templates = LISTINGS["resources/templates/list"]
        return Route(None, dict(params), "resource template", uri, claimed_by=templates)
    raise InvalidParams(
        f'"params.ref.type": expected "ref/prompt" or "ref/resource", found '
        f"{describe(ref.get('type'))}"
    )


def _split_prompt(name: str) -> tuple[str, str]:
    try:
        return split_namespaced(name)
    except UnknownTool:
        raise InvalidParams(f"Unknown prompt: {name}") from None


def _string(params: Mapping[str, object], key: str, what: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        found = describe(value) if key in params else "nothing"
        raise InvalidParams(f'{what}: expected "{key}" as a string, found {found}')
    return value


# -- answers -------------------------------------------------------------------------------------


def rewrap_read(result: object, upstream: str) -> object:
    """A ``resources/read`` result with each content's URI in the gateway's form again."""
    if not isinstance(result, dict) or not isinstance(contents := result.get("contents"), list):
        return result
    rewrapped = [
        {**item, "uri": gateway_uri(upstream, uri)}
        if isinstance(item, dict) and isinstance(uri := item.get("uri"), str)
        else item
        for item in contents
    ]
    return {**result, "contents": rewrapped}


def for_aggregate(upstream: str, message: dict[str, object]) -> dict[str, object]:
    """An upstream's notification as an aggregate session gets it: a resource update names
    the resource by the URI ``/mcp`` lists (and the agent subscribed with)."""
    params = message.get("params")
    if message.get("method") != RESOURCE_UPDATED or not isinstance(params, dict):
        return message
    uri = params.get("uri")
    if not isinstance(uri, str):
        return message
    return {**message, "params": {**params, "uri": gateway_uri(upstream, uri)}}

"""How long strict decoding of one message body takes, and what duplicate-key detection costs.

The gateway refuses a body with a duplicate key anywhere (the upstream must see exactly what
the policy saw), and the deny path has about 100 µs per request in all (DESIGN §7: 8,000
refused calls/s on one core). This compares ways to parse with that check:

* ``stdlib_hook``     ``json.loads`` with an ``object_pairs_hook`` on every object (exact);
* ``orjson_walk``     ``orjson.loads``, then a Python walk counting keys against the body's colons;
* ``orjson_recount``  ``orjson.loads``, then the colons of our own re-serialisation against the
                      body's (what ``mcpwall.core.strictjson`` does);
* ``msgspec_recount`` the same with msgspec, when it is installed (it is not a dependency);

and, as floors, the two parsers with no check at all. Each figure is the median, over rounds,
of the per-call time in microseconds.

Then the worst bodies under the 4 MiB limit, against an ordinary one of the same size, each
decoded by ``strictjson.loads`` and by ``recursive_walk`` (how it read bodies before it measured
them from their bytes: parse, then a recursive walk over the value whenever the body has more
brackets than the depth limit), in milliseconds per body, rounds interleaved. Run with
``.venv/bin/python bench/jsonrpc_decode.py`` (``--large`` for the second part alone).
"""

from __future__ import annotations

import gc
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable

import orjson

from mcpwall.core import jsonrpc, strictjson
from mcpwall.core.errors import ProtocolError
from mcpwall.core.mcp import denial_result, parse_tool_call
from mcpwall.core.policy import Decision

ROUNDS = 31
ROUND_NS = 2_000_000  # one round of one cell
LARGE_ROUNDS = 7
MAX_DEPTH = strictjson.MAX_DEPTH
MAX_CONTAINERS = strictjson.MAX_CONTAINERS
LARGE = strictjson.MAX_BODY_BYTES - 1024  # under the limit, with room for the envelope
CONTAINERS = (dict, list)

META = (
    b'"_meta":{"progressToken":"p-42","io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    b'"io.modelcontextprotocol/clientCapabilities":{}}'
)
TYPICAL = (
    b'{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"delete_pod",'
    b'"arguments":{"name":"checkout-7d9f8b-x2kq","namespace":"payments-staging","force":false,'
    b'"gracePeriodSeconds":30},' + META + b"}}"
)
COLONS = (
    b'{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"set_image",'
    b'"arguments":{"image":"registry.example.com:5000/checkout:1.4.2","at":"2026-11-24T10:00:00Z",'
    b'"url":"https://example.com/a"},' + META + b"}}"
)
ESCAPED = TYPICAL.replace(b'"payments-staging"', b'"caf\\u00e9\\u003astaging"')
DUPLICATE = TYPICAL.replace(b'"force":false', b'"namespace":"payments-prod"')


def manifest_body() -> bytes:
    """A tools/call carrying a Kubernetes Deployment with 40 containers (~12 KB)."""
    container = {
        "name": "app",
        "image": "registry.example.com:5000/app:1.0",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
    }
    spec = {"replicas": 3, "template": {"spec": {"containers": [container] * 40}}}
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": spec}
    params = {"name": "apply_manifest", "arguments": {"manifest": manifest}}
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})


class DuplicateKeyError(Exception):
    """A candidate found a duplicate key."""


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise DuplicateKeyError
    return result


def _refuse_constant(name: str) -> object:
    raise ValueError(name)


def _depth_ok(value: dict[str, object] | list[object], remaining: int) -> None:
    if remaining < 0:
        raise ValueError("too deep")
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, CONTAINERS):
            _depth_ok(item, remaining - 1)


def stdlib_hook(body: bytes) -> object:
    value = json.loads(
        body.decode("utf-8"), object_pairs_hook=_unique, parse_constant=_refuse_constant
    )
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and isinstance(value, CONTAINERS):
        _depth_ok(value, MAX_DEPTH - 1)
    return value


def _keys_and_depth(value: dict[str, object] | list[object], remaining: int) -> int:
    """Number of keys in every object under ``value``; raises when nested too deep."""
    if remaining < 0:
        raise ValueError("too deep")
    keys = len(value) if isinstance(value, dict) else 0
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, CONTAINERS):
            keys += _keys_and_depth(item, remaining - 1)
    return keys


def _string_colons(value: object) -> int:
    if isinstance(value, str):
        return value.count(":")
    if isinstance(value, dict):
        return sum(k.count(":") + _string_colons(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_string_colons(item) for item in value)
    return 0


def orjson_walk(body: bytes) -> object:
    value = orjson.loads(body)
    keys = _keys_and_depth(value, MAX_DEPTH - 1) if isinstance(value, CONTAINERS) else 0
    colons = body.count(b":")
    if colons != keys:  # colons inside strings, or a dropped duplicate
        if b"\\u003a" in body or b"\\u003A" in body:
            return stdlib_hook(body)
        if colons - _string_colons(value) != keys:
            raise DuplicateKeyError
    return value


def orjson_recount(body: bytes) -> object:
    try:
        return strictjson.loads(body)
    except ProtocolError as exc:
        raise DuplicateKeyError from exc


def msgspec_recount() -> Callable[[bytes], object] | None:
    try:
        msgspec = importlib.import_module("msgspec")
    except ImportError:
        return None
    decoder, encode = msgspec.json.Decoder(), msgspec.json.encode

    def decode(body: bytes) -> object:
        value = decoder.decode(body)
        if body.count(b"{") + body.count(b"[") > MAX_DEPTH and isinstance(value, CONTAINERS):
            _depth_ok(value, MAX_DEPTH - 1)
        if b"\\u003a" in body or b"\\u003A" in body:
            return stdlib_hook(body)
        if body.count(b":") != encode(value).count(b":"):
            raise DuplicateKeyError
        return value

    return decode


def recursive_walk(body: bytes) -> object:
    """``strictjson.loads`` before it measured bodies from their bytes (the escaped-colon case
    aside, which none of the large bodies has)."""
    value = orjson.loads(body)
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and isinstance(value, CONTAINERS):
        _depth_ok(value, MAX_DEPTH - 1)
    if body.count(b":") != orjson.dumps(value).count(b":"):
        raise DuplicateKeyError
    return value


def tool_call(arguments: bytes) -> bytes:
    """A tools/call whose ``arguments`` are the JSON text given."""
    head = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":'
    return head + arguments + b"}}"


def array_of(item: bytes, count: int) -> bytes:
    return b"[" + b",".join([item] * count) + b"]"


def filling(item: bytes) -> bytes:
    """A tools/call with an array of ``item`` as long as fits under :data:`LARGE`."""
    return tool_call(b'{"a":' + array_of(item, LARGE // (len(item) + 1)) + b"}")


def up_to_the_limit(item: bytes, containers: int) -> bytes:
    """A tools/call with an array of ``item``, as many as keep the body under
    :data:`MAX_CONTAINERS` arrays and objects, and a string filling it to :data:`LARGE`."""
    items = array_of(item, (MAX_CONTAINERS - 8) // containers)
    return tool_call(b'{"a":' + items + b',"pad":"' + b"x" * (LARGE - len(items)) + b'"}')


def large_bodies() -> dict[str, bytes]:
    """The ordinary body of the limit's size, and the worst shapes under it."""
    manifest = orjson.loads(manifest_body())["params"]["arguments"]["manifest"]
    chain = b"[" * (MAX_DEPTH - 5) + b"]" * (MAX_DEPTH - 5)  # just under the limit in a call
    return {
        "ordinary: Kubernetes manifests": filling(orjson.dumps(manifest)),
        "one-element arrays, 1M": filling(b"[0]"),
        "empty objects, 1.4M": filling(b"{}"),
        "one-element arrays to the cap": up_to_the_limit(b"[0]", 1),
        f"chains {MAX_DEPTH - 5} deep to the cap": up_to_the_limit(chain, MAX_DEPTH - 5),
        "brackets in strings": filling(b'"' + b"[{" * 50 + b'"'),
        "empty strings, 1.4M": filling(b'""'),
        "escaped quotes": tool_call(b'{"a":"' + b'\\"' * (LARGE // 2) + b'"}'),
    }


def outcome(function: Callable[[bytes], object], body: bytes) -> str:
    try:
        function(body)
    except (DuplicateKeyError, ValueError, ProtocolError) as refused:
        return f"refused: {refused}"
    return "accepted"


def large() -> None:
    """The worst bodies under the size limit against an ordinary one, before and after."""
    bodies = large_bodies()
    decoders: dict[str, Callable[[bytes], object]] = {
        "recursive_walk": recursive_walk,
        "strictjson": strictjson.loads,
    }
    gc.collect()
    gc.freeze()  # as mcpwall serve does: the collector's passes skip what startup made
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(LARGE_ROUNDS):
        for body_name, body in bodies.items():
            for decoder_name, decoder in decoders.items():
                start = time.perf_counter_ns()
                outcome(decoder, body)
                elapsed = (time.perf_counter_ns() - start) / 1e6
                samples.setdefault((body_name, decoder_name), []).append(elapsed)
    print(f"4 MiB bodies: median ms per body over {LARGE_ROUNDS} interleaved rounds\n")
    print(f"{'body':<34}{'MiB':>6}{'recursive_walk':>16}{'strictjson':>12}  strictjson's outcome")
    for body_name, body in bodies.items():
        figures = "".join(
            f"{statistics.median(samples[body_name, name]):>{width}.1f}"
            for name, width in (("recursive_walk", 16), ("strictjson", 12))
        )
        verdict = outcome(strictjson.loads, body)
        print(f"{body_name:<34}{len(body) / 2**20:>6.2f}{figures}  {verdict[:60]}")


def loops_for(function: Callable[[bytes], object], body: bytes) -> int:
    """How many calls make one round of about ``ROUND_NS``."""
    start = time.perf_counter_ns()
    for _ in range(10):
        function(body)
    return max(1, ROUND_NS * 10 // max(1, time.perf_counter_ns() - start))


def medians_us(cells: dict[str, tuple[Callable[[bytes], object], bytes]]) -> dict[str, float]:
    """Median per-call time in µs of each cell, rounds interleaved so load affects all alike."""
    loops = {name: loops_for(function, body) for name, (function, body) in cells.items()}
    samples: dict[str, list[float]] = {name: [] for name in cells}
    for _ in range(ROUNDS):
        for name, (function, body) in cells.items():
            start = time.perf_counter_ns()
            for _ in range(loops[name]):
                function(body)
            samples[name].append((time.perf_counter_ns() - start) / loops[name] / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def refuses(function: Callable[[bytes], object], body: bytes) -> bool:
    try:
        function(body)
    except (DuplicateKeyError, ValueError, ProtocolError):
        return True
    return False


def deny_path(body: bytes) -> bytes:
    """Decode, read the call, build and encode a denial: the pure part of a refused call."""
    request = jsonrpc.decode(body)
    assert isinstance(request, jsonrpc.Request)
    parse_tool_call(request.params)
    result = denial_result(DENIAL, policy="seed", version=3)
    return jsonrpc.encode_result(request.id, result)


DENIAL = Decision("deny", "/tools/delete_pod/require/0/conditions/0", "Namespace is outside.")


def main() -> None:
    bodies = {
        "typical": TYPICAL,
        "colons": COLONS,
        "escaped": ESCAPED,
        "manifest": manifest_body(),
    }
    candidates: dict[str, Callable[[bytes], object]] = {
        "stdlib_unchecked": lambda body: json.loads(body),
        "orjson_unchecked": orjson.loads,
        "stdlib_hook": stdlib_hook,
        "orjson_walk": orjson_walk,
        "orjson_recount": orjson_recount,
    }
    msgspec = msgspec_recount()
    if msgspec is not None:
        candidates["msgspec_recount"] = msgspec
    sizes = "  ".join(f"{name} {len(body)} B" for name, body in bodies.items())
    cells = {
        f"{candidate}/{body_name}": (function, body)
        for candidate, function in candidates.items()
        for body_name, body in bodies.items()
    }
    cells["decode"] = (jsonrpc.decode, TYPICAL)
    cells["deny"] = (deny_path, TYPICAL)
    medians = medians_us(cells)
    print(f"bodies: {sizes}\nmedian µs per decode over {ROUNDS} interleaved rounds\n")
    header = "".join(f"{name:>10}" for name in bodies)
    print(f"{'candidate':<18}{header}{'dup refused':>13}")
    for candidate, function in candidates.items():
        figures = "".join(f"{medians[f'{candidate}/{body}']:>10.2f}" for body in bodies)
        print(f"{candidate:<18}{figures}{'yes' if refuses(function, DUPLICATE) else 'NO':>13}")
    print()
    print(f"jsonrpc.decode, typical tools/call:  {medians['decode']:.2f} µs")
    print(f"deny path (decode, parse, encode):   {medians['deny']:.2f} µs")


if __name__ == "__main__":
    if "--large" not in sys.argv[1:]:
        main()
        print()
    large()

"""One of the processes of ``test_concurrency.py``: opens a store and writes to it.

Usage: ``python concurrent_writer.py URL|- HOME WORKER COUNT``. It prints ``ready`` once
imported, waits for a line on stdin (so that all writers start together), then opens the
store (migrating it, if it is the first) and, COUNT times: adds a version of policy ``race``,
issues a grant labelled ``wWORKER-I`` (which must succeed) and one labelled ``shared-(I % 5)``
(which every worker races for). It prints a JSON summary last.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
from pathlib import Path

from mcpwall.adapters.store import open_store
from mcpwall.core.errors import Conflict
from mcpwall.core.registry import Upstream
from mcpwall.core.tokens import TokenKind, hash_token, make_token


def new_hash() -> str:
    return hash_token(make_token(TokenKind.GRANT, secrets.token_bytes(32)))


def main(url: str, home: Path, worker: int, count: int) -> dict[str, int]:
    print("ready", flush=True)
    sys.stdin.readline()
    store = open_store(None if url == "-" else url, home, environ={})
    actor = f"worker-{worker}"
    with contextlib.suppress(Conflict):  # if the other worker added it first
        store.add_upstream(Upstream.stdio("k8s", "true"), actor=actor)
    conflicts = 0
    for i in range(count):
        store.add_policy_version("race", f"{worker}-{i}", actor=actor)
        store.issue_grant(f"w{worker}-{i}", {"k8s": "race"}, new_hash(), actor=actor)
        try:
            store.issue_grant(f"shared-{i % 5}", {"k8s": "race"}, new_hash(), actor=actor)
        except Conflict:
            conflicts += 1
    store.close()
    return {"conflicts": conflicts}


if __name__ == "__main__":
    url, home, worker, count = sys.argv[1:]
    print(json.dumps(main(url, Path(home), int(worker), int(count))), flush=True)

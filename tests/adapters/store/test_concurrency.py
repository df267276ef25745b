"""Two processes writing to one database at once lose nothing and break no rule.

Both start from an empty database, so they also race to migrate it and to create the key
file. A barrier on stdin (not a sleep) lines their starts up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from mcpwall.adapters.store import open_store
from mcpwall.core.registry import Status

WRITER = Path(__file__).with_name("concurrent_writer.py")
WORKERS = 2
COUNT = 25
SHARED_LABELS = 5


def run_writers(url: str, home: Path) -> list[dict[str, int]]:
    with ExitStack() as stack:
        writers = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, str(WRITER), url, str(home), str(worker), str(COUNT)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for worker in range(WORKERS)
        ]
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        outputs = [writer.communicate(timeout=300)[0] for writer in writers]
        assert [writer.returncode for writer in writers] == [0] * WORKERS
    return [json.loads(output.splitlines()[-1]) for output in outputs]


def test_two_processes_writing_at_once_lose_nothing(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    summaries = run_writers(database_url, home)

    store = open_store(database_url, home, environ={})
    try:
        versions = store.list_policy_versions("race")
        assert [v.version for v in versions] == list(range(1, WORKERS * COUNT + 1))
        written = {f"{w}-{i}" for w in range(WORKERS) for i in range(COUNT)}
        assert sorted(v.text for v in versions) == sorted(written)

        grants = store.list_grants()
        now = store.list_audit(limit=1)[0].at
        active = [g.label for g in grants if g.status(now) is Status.ACTIVE]
        assert len(active) == len(set(active)), "a label is held by two active grants"
        own = {f"w{w}-{i}" for w in range(WORKERS) for i in range(COUNT)}
        shared = {f"shared-{n}" for n in range(SHARED_LABELS)}
        assert set(active) == own | shared
        assert len(grants) == len(own) + len(shared)
        total_conflicts = sum(s["conflicts"] for s in summaries)
        assert total_conflicts == WORKERS * COUNT - SHARED_LABELS

        # One revision and one audit event per change, none lost: the policy versions, the
        # grants and the one upstream.
        changes = len(versions) + len(grants) + 1
        assert store.revision() == changes
        assert len(store.list_audit(limit=1000)) == changes
    finally:
        store.close()

"""``StartingStore``: ``mcpwall stdio``'s first reads on plain ``sqlite3``, then the SQL store.

Its reads must be the SQL store's reads: the same values, the same errors, from the same
database; it is used only where the SQL store's own opening would have nothing to do but
check; and once the SQL store is opened (or fails to open), the ``sqlite3`` reads are over.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from mcpwall.adapters.secrets import SecretBox, load_secret_key
from mcpwall.adapters.store import SQLStore, open_store
from mcpwall.adapters.store.embedded import DATABASE_FILE
from mcpwall.adapters.store.starting import SQLiteReads, StartingStore, open_starting_store
from mcpwall.core.errors import SecretKeyError
from mcpwall.core.registry import Pinning, Upstream
from mcpwall.core.tokens import hash_token
from mcpwall.ports.clock import FakeClock

KEY = "MCPWALL_SECRET_KEY"
ENVIRON = {KEY: "A" * 43}  # a 32-byte key
POLICY = '{"version": "1", "default": "deny", "tools": {"get_pod": {}}}'
UPSTREAMS = [
    Upstream.stdio(
        "k8s", "/usr/bin/env", ("npx", "-y", "k8s-mcp"), env={"KUBE_TOKEN": "s3cr3t", "X": ""},
        cwd="/tmp", pinning=Pinning.WARN,
    ),
    Upstream.stdio("plain", "server"),
    Upstream.remote("gh", "https://example.com/mcp", {"Authorization": "Bearer t"}),
]  # fmt: skip
TOOLS = [
    {"name": "get_pod", "description": "Read a pod ✓", "inputSchema": {"type": "object"}},
    {"name": "delete_pod", "inputSchema": {"type": "object", "properties": {"b": {}, "a": {}}}},
]
TOKENS = {  # label → token; "revoked" is revoked, "expired" expired, the others active
    "desktop": "mcpw_desktop",
    "other": "mcpw_other",
    "revoked": "mcpw_revoked",
    "expired": "mcpw_expired",
}
START = datetime(2026, 7, 28, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose embedded store holds upstreams, pins, policy versions and grants of every
    standing, closed again."""
    home = tmp_path / "home"
    clock = FakeClock(START)
    store = open_store(None, home, clock=clock, environ=ENVIRON)
    try:
        for upstream in UPSTREAMS:
            store.add_upstream(upstream, actor="test")
        store.add_policy_version("seed", POLICY, actor="test")
        clock.advance(1.5)
        store.add_policy_version("seed", POLICY.replace("get_pod", "list_pods"), actor="test")
        store.add_policy_version("other", "{}", actor="test")
        store.pin_tools("k8s", TOOLS, instructions="Use with care.", actor="test")
        store.pin_tools("gh", TOOLS[:1], actor="test")
        every = {upstream.name: "seed" for upstream in UPSTREAMS}
        store.issue_grant("desktop", every, hash_token(TOKENS["desktop"]), actor="test")
        store.issue_grant("other", {"plain": "other"}, hash_token(TOKENS["other"]), actor="test")
        store.issue_grant("revoked", {"k8s": "seed"}, hash_token(TOKENS["revoked"]), actor="t")
        store.revoke_grant("revoked", actor="test")
        soon = clock.now().replace(second=30)
        store.issue_grant(
            "expired", {"k8s": "seed"}, hash_token(TOKENS["expired"]), expires_at=soon, actor="t"
        )
        clock.advance(3600)
        store.touch_grant(store.get_grant("desktop").id)
    finally:
        store.close()
    return home


@pytest.fixture
def stores(home: Path) -> Iterator[tuple[StartingStore, SQLStore]]:
    """The starting store of ``home`` (not yet opened fully), and the SQL store of it."""
    starting = open_starting_store(home, ENVIRON)
    assert starting is not None
    sql = open_store(None, home, environ=ENVIRON)
    yield starting, sql
    starting.close()
    sql.close()


def outcome(read: Callable[[], object]) -> tuple[str, object]:
    """What ``read`` gave back, or the type and message of what it raised."""
    try:
        return "returned", read()
    except Exception as error:  # noqa: BLE001 (the very error is what is compared)
        return f"raised {type(error).__name__}", str(error)


def reads(
    store: SQLStore | StartingStore, ids: dict[str, str]
) -> list[tuple[str, Callable[[], object]]]:
    """Every read the starting store answers itself, with arguments found and not found."""
    calls: list[tuple[str, Callable[[], object]]] = [("revision", store.revision)]
    calls.extend(
        (f"grant of {token}", partial(store.find_grant_by_token_hash, hash_token(token)))
        for token in [*TOKENS.values(), "mcpw_unknown"]
    )
    calls.extend(
        (f"grant {ref}", partial(store.get_grant, ref))
        for ref in [*ids.values(), *TOKENS, "grt_AAAAAAAAAAA", "nobody"]
    )
    versions = [("seed", None), ("seed", 1), ("seed", 2), ("seed", 3), ("other", None),
                ("nope", None), ("nope", 1)]  # fmt: skip
    calls.extend(
        (f"policy {name} {version}", partial(store.get_policy, name, version))
        for name, version in versions
    )
    for name in [*(upstream.name for upstream in UPSTREAMS), "nope"]:
        calls.append((f"upstream {name}", partial(store.get_upstream, name)))
        calls.append((f"pins {name}", partial(store.get_pins, name)))
    return calls


def test_every_read_answers_as_the_sql_store_does(
    stores: tuple[StartingStore, SQLStore],
) -> None:
    starting, sql = stores
    ids = {grant.label: grant.id for grant in sql.list_grants()}
    expected = [(name, outcome(read)) for name, read in reads(sql, ids)]
    answered = [(name, outcome(read)) for name, read in reads(starting, ids)]
    assert not starting.opened  # every answer above came from sqlite3
    assert answered == expected
    kinds = {kind for _, (kind, _) in expected}
    assert kinds == {"returned", "raised NotFound"}  # found, and not found


def test_the_reads_give_the_stored_values(stores: tuple[StartingStore, SQLStore]) -> None:
    """Beyond agreeing with the SQL store: the values are there (times with their zone)."""
    starting, _ = stores
    grant = starting.find_grant_by_token_hash(hash_token(TOKENS["desktop"]))
    assert grant is not None
    assert grant.bindings == {"gh": "seed", "k8s": "seed", "plain": "seed"}
    assert grant.created_at.tzinfo is UTC
    assert grant.last_used_at is not None
    assert starting.get_policy("seed").version == 2
    assert starting.get_upstream("k8s") == UPSTREAMS[0]  # its secrets opened
    pins = starting.get_pins("k8s")
    assert sorted(pins.tools) == ["delete_pod", "get_pod"]
    assert pins.instructions is not None
    assert not starting.opened


def test_writes_and_other_reads_open_the_sql_store(stores: tuple[StartingStore, SQLStore]) -> None:
    starting, sql = stores
    grant = sql.get_grant("other")
    starting.touch_grant(grant.id)
    assert starting.opened
    assert [g.label for g in starting.list_grants()] == [g.label for g in sql.list_grants()]
    # Once opened, the reads are the SQL store's: a change made meanwhile is seen at once.
    sql.add_policy_version("other", POLICY, actor="test")
    assert starting.get_policy("other").version == 2


def test_a_store_that_fails_to_open_ends_the_sqlite_reads(home: Path) -> None:
    """Fail closed: once the SQL store can't be opened, no read is answered from sqlite3."""
    reads = SQLiteReads(home / DATABASE_FILE, _box(home))

    def refuse() -> SQLStore:
        raise SecretKeyError("the key changed")

    starting = StartingStore(reads, refuse, path=home / DATABASE_FILE)
    assert starting.get_upstream("plain") == UPSTREAMS[1]
    with pytest.raises(SecretKeyError):
        starting.full()
    with pytest.raises(SecretKeyError):
        starting.get_upstream("plain")
    with pytest.raises(SecretKeyError):
        starting.find_grant_by_token_hash(hash_token(TOKENS["desktop"]))


def _box(home: Path) -> SecretBox:
    return SecretBox(load_secret_key(home, ENVIRON))


def test_no_starting_store_without_a_file(tmp_path: Path) -> None:
    assert open_starting_store(tmp_path / "home", ENVIRON) is None
    assert not (tmp_path / "home" / DATABASE_FILE).exists()  # nothing created


def _change(home: Path, statement: str) -> None:
    with sqlite3.connect(home / DATABASE_FILE) as connection:
        connection.execute(statement)
    connection.close()


def test_no_starting_store_for_a_schema_to_migrate(home: Path) -> None:
    _change(home, "UPDATE alembic_version SET version_num = '0007'")
    assert open_starting_store(home, ENVIRON) is None


def test_no_starting_store_before_a_key_is_recorded(home: Path) -> None:
    _change(home, "UPDATE store_meta SET key_check = NULL")
    assert open_starting_store(home, ENVIRON) is None


def test_no_starting_store_with_another_key(home: Path) -> None:
    other = {KEY: "B" * 43}
    assert open_starting_store(home, other) is None
    with pytest.raises(SecretKeyError):  # what the caller's usual opening then says
        open_store(None, home, environ=other)


def test_the_starting_store_is_named_as_the_sql_store(
    stores: tuple[StartingStore, SQLStore],
) -> None:
    starting, sql = stores
    assert starting.url == sql.url


def test_the_start_loads_no_sqlalchemy(home: Path) -> None:
    """The point of it all: reads, the data plane and the stdio gateway, without SQLAlchemy."""
    script = (
        "import sys, os\n"
        "from pathlib import Path\n"
        "from mcpwall.adapters.store.starting import open_starting_store\n"
        "from mcpwall.wiring import build_data_plane\n"
        "import mcpwall.gateway.stdio\n"
        "store = open_starting_store(Path(sys.argv[1]), os.environ)\n"
        "store.get_upstream('k8s'); store.get_pins('k8s'); store.get_policy('seed')\n"
        "build_data_plane(store, Path(sys.argv[1]), metrics=False)\n"
        "assert not store.opened\n"
        "print(sorted(name for name in sys.modules if name.startswith('sqlalchemy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(home)], env={**ENVIRON, "PATH": ""},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

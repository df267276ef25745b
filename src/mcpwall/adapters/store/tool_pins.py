"""Tool-definition pins in SQL (``PinStore``): each tool's object kept as JSON text exactly.

Pinning is a change like any other (``_change``: locked, audited, the revision bumped), so a
gateway replica reloads pins when the revision moves, as it reloads policies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from mcpwall.adapters.store.schema import instruction_pins, store_meta, tool_pins
from mcpwall.adapters.store.upstreams import SQLUpstreams
from mcpwall.core.audit import pin_change, unpin_change
from mcpwall.core.pins import (
    UNSET,
    InstructionsArg,
    NewPin,
    Pins,
    new_instructions_hash,
    new_pins,
    read_instructions_pin,
    read_tool_pin,
)
from mcpwall.core.registry import check_actor


class SQLPins(SQLUpstreams):
    """The ``PinStore`` part of ``SQLStore`` (removing an upstream removes its pins, in
    ``SQLUpstreams.remove_upstream``)."""

    def get_pins(self, upstream: str) -> Pins:
        with self._transaction() as connection:
            return self._pins(connection, upstream)

    def pin_tools(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: InstructionsArg = UNSET,
        actor: str,
    ) -> Pins:
        check_actor(actor)
        pins = new_pins(upstream, tools)
        text_hash = None if instructions is UNSET else new_instructions_hash(upstream, instructions)
        with self._change(actor) as change:
            connection = change.connection
            self._get_upstream(connection, upstream)
            if not pins and text_hash is None:
                return self._pins(connection, upstream)
            if pins:
                names = [pin.name for pin in pins]
                mine = tool_pins.c.upstream == upstream
                connection.execute(delete(tool_pins).where(mine, tool_pins.c.tool.in_(names)))
                _insert_tools(connection, upstream, pins, change.now, actor)
            if text_hash is not None and instructions is not UNSET:
                where = instruction_pins.c.upstream == upstream
                connection.execute(delete(instruction_pins).where(where))
                _insert_instructions(
                    connection, upstream, instructions, text_hash, change.now, actor
                )
            hashes = {pin.name: pin.hash for pin in pins}
            change.record(pin_change(upstream, hashes, text_hash))
            return self._pins(connection, upstream)

    def pin_first_use(
        self,
        upstream: str,
        tools: Sequence[Mapping[str, object]],
        *,
        instructions: str | None,
        actor: str,
    ) -> Pins:
        check_actor(actor)
        pins = new_pins(upstream, tools)
        text_hash = new_instructions_hash(upstream, instructions)
        # Locked like a change (replicas' first listings are serialised here, and the first
        # one wins), but the revision stays: what gateways serve does not change.
        with self._transaction(write=True) as connection:
            lock = select(store_meta.c.revision).where(store_meta.c.id == 1).with_for_update()
            connection.execute(lock)
            self._get_upstream(connection, upstream)
            if self._has_pins(connection, upstream):
                return self._pins(connection, upstream)
            now = self._clock.now()
            _insert_tools(connection, upstream, pins, now, actor)
            _insert_instructions(connection, upstream, instructions, text_hash, now, actor)
            hashes = {pin.name: pin.hash for pin in pins}
            self._insert_audit(
                connection, now, actor, pin_change(upstream, hashes, text_hash, first_use=True)
            )
            return self._pins(connection, upstream)

    def unpin_tools(self, upstream: str, names: Collection[str], *, actor: str) -> Pins:
        check_actor(actor)
        wanted = sorted(set(names))
        with self._change(actor) as change:
            connection = change.connection
            self._get_upstream(connection, upstream)
            if wanted:
                mine = tool_pins.c.upstream == upstream
                query = select(tool_pins.c.tool).where(mine, tool_pins.c.tool.in_(wanted))
                removed = sorted(connection.execute(query).scalars())
                if removed:
                    where = tool_pins.c.tool.in_(removed)
                    connection.execute(delete(tool_pins).where(mine, where))
                    change.record(unpin_change(upstream, removed))
            return self._pins(connection, upstream)

    @staticmethod
    def _has_pins(connection: Connection, upstream: str) -> bool:
        for table in (tool_pins, instruction_pins):
            query = select(table.c.upstream).where(table.c.upstream == upstream).limit(1)
            if connection.execute(query).first() is not None:
                return True
        return False

    def _pins(self, connection: Connection, upstream: str) -> Pins:
        self._get_upstream(connection, upstream)
        query = select(tool_pins).where(tool_pins.c.upstream == upstream)
        tools = {
            row.tool: read_tool_pin(
                upstream, row.tool, row.definition, row.hash, row.pinned_at, row.pinned_by
            )
            for row in connection.execute(query.order_by(tool_pins.c.tool))
        }
        where = instruction_pins.c.upstream == upstream
        row = connection.execute(select(instruction_pins).where(where)).first()
        instructions = (
            None
            if row is None
            else read_instructions_pin(upstream, row.text, row.hash, row.pinned_at, row.pinned_by)
        )
        return Pins(upstream, tools, instructions)


def _insert_tools(
    connection: Connection, upstream: str, pins: Sequence[NewPin], now: datetime, actor: str
) -> None:
    if not pins:
        return
    rows = [
        {
            "upstream": upstream,
            "tool": pin.name,
            "definition": pin.text,
            "hash": pin.hash,
            "pinned_at": now,
            "pinned_by": actor,
        }
        for pin in pins
    ]
    connection.execute(insert(tool_pins), rows)


def _insert_instructions(
    connection: Connection,
    upstream: str,
    text: str | None,
    text_hash: str,
    now: datetime,
    actor: str,
) -> None:
    values = {
        "upstream": upstream,
        "text": text,
        "hash": text_hash,
        "pinned_at": now,
        "pinned_by": actor,
    }
    connection.execute(insert(instruction_pins).values(values))

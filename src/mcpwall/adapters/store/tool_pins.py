"""Tool-definition pins in SQL (``PinStore``): each tool's object kept as JSON text exactly.

Pinning is a change like any other (``_change``: locked, audited, the revision bumped), so a
gateway replica reloads pins when the revision moves, as it reloads policies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import Connection, delete, insert, select

from mcpwall.adapters.store.schema import instruction_pins, tool_pins
from mcpwall.adapters.store.upstreams import SQLUpstreams
from mcpwall.core.audit import pin_change, unpin_change
from mcpwall.core.pins import (
    UNSET,
    InstructionsArg,
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
                rows = [
                    {
                        "upstream": upstream,
                        "tool": pin.name,
                        "definition": pin.text,
                        "hash": pin.hash,
                        "pinned_at": change.now,
                        "pinned_by": actor,
                    }
                    for pin in pins
                ]
                connection.execute(insert(tool_pins), rows)
            if text_hash is not None and instructions is not UNSET:
                where = instruction_pins.c.upstream == upstream
                connection.execute(delete(instruction_pins).where(where))
                values = {
                    "upstream": upstream,
                    "text": instructions,
                    "hash": text_hash,
                    "pinned_at": change.now,
                    "pinned_by": actor,
                }
                connection.execute(insert(instruction_pins).values(values))
            hashes = {pin.name: pin.hash for pin in pins}
            change.record(pin_change(upstream, hashes, text_hash))
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

"""``mcpwall migrate``: bring the store's schema up to this version's, and exit.

Every command that opens the store migrates it first, under a lock (see
:mod:`mcpwall.adapters.store.migrate`), so this command does nothing of its own beyond opening
it: it exists for a deployment that wants the migration as a step of its own, such as the Helm
chart's pre-install and pre-upgrade Job, which then fails visibly before any replica starts.
"""

from __future__ import annotations

import click

from mcpwall.cli.context import control, reports_errors
from mcpwall.cli.output import stdout


@click.command()
@reports_errors
def migrate() -> None:
    """Migrate the store (MCPWALL_HOME's SQLite database, or MCPWALL_DATABASE_URL) to the
    newest schema, then exit. Safe to run again, and beside running replicas."""
    # The store's modules load on first use, as in mcpwall.cli.context.
    from mcpwall.adapters.store import SQLStore
    from mcpwall.adapters.store.migrate import head

    store = control().store  # opening it migrated it
    assert isinstance(store, SQLStore)
    stdout.print(f"{store.url} is at schema revision {head()}")

"""Opening the SQL store: creating its file or database, migrating it, checking its key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import make_url

from mcpwall.adapters.secrets import SecretBox, load_secret_key
from mcpwall.adapters.store.engine import (
    create,
    create_private_file,
    database_url,
    shown_url,
    translate_errors,
)
from mcpwall.adapters.store.migrate import upgrade
from mcpwall.adapters.store.sql_store import SQLStore
from mcpwall.core.errors import StoreUnavailable
from mcpwall.ports.clock import Clock, SystemClock


def open_store(
    url: str | None,
    home: Path,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
) -> SQLStore:
    """Open (creating and migrating as needed) the store at ``url``.

    ``url`` is ``MCPWALL_DATABASE_URL``: None for the SQLite file in ``home``
    (``MCPWALL_HOME``), ``sqlite:///PATH``, or ``postgresql://…``. The key for secrets at rest
    comes from ``MCPWALL_SECRET_KEY`` in ``environ`` (default: the process environment), else
    from the key file in ``home``.
    """
    engine_url = database_url(url, home)
    shown = shown_url(make_url(url) if url else engine_url.set(drivername="sqlite"))
    if not url:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    box = SecretBox(load_secret_key(home, environ))
    if engine_url.get_backend_name() == "sqlite":
        try:
            create_private_file(Path(str(engine_url.database)))
        except OSError as error:
            raise StoreUnavailable(shown, f"cannot create the file: {error.strerror}") from error
    engine = create(engine_url)
    try:
        with translate_errors(shown):
            upgrade(engine)
        store = SQLStore(engine, box, clock or SystemClock(), shown)
        store.verify_secret_key()
    except BaseException:
        engine.dispose()
        raise
    return store

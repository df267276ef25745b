"""The environment a stdio upstream is spawned with.

Not ours whole: the gateway's environment holds its own secrets (``MCPWALL_*``, a database
URL, cloud credentials), and an upstream — often a third-party package run with ``npx`` —
must see only its own. It gets the few variables a program needs to run as the same user
(where programs are, the home directory, locale, time zone, temporary directory), then the
upstream's registered ``env`` over them. This is the official SDKs' default list (``HOME``,
``LOGNAME``, ``PATH``, ``SHELL``, ``TERM``, ``USER``) plus locale, ``TZ`` and ``TMPDIR``,
which carry no secrets and change how programs behave. Proxy and CA settings are not
inherited (a proxy URL may embed a password): register them on the upstream when it needs
them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

INHERITED: Final = frozenset(
    {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LANGUAGE", "TZ", "TMPDIR"}
)


def child_environment(
    upstream_env: Mapping[str, str], parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The inherited variables of ``parent`` (our environment by default), then ``upstream_env``."""
    source = os.environ if parent is None else parent
    inherited = {
        name: value
        for name, value in source.items()
        if _inheritable(name) and not value.startswith("()")  # a bash exported function
    }
    return {**inherited, **upstream_env}


def _inheritable(name: str) -> bool:
    return name in INHERITED or name.startswith("LC_")

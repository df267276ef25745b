"""mcpwall: a policy gateway for the Model Context Protocol.

The package is layered (DESIGN §2); a module imports only from its own layer or lower ones,
which ``tests/test_layers.py`` enforces:

1. ``mcpwall.core``      pure, synchronous, no I/O: messages, the policy engine, window arithmetic
2. ``mcpwall.ports``     small ``Protocol``s for all I/O, each with an in-memory fake
3. ``mcpwall.adapters``  the I/O: stores, counters, upstream clients, downstream servers
4. ``mcpwall.gateway``   the request pipeline
5. ``mcpwall.cli`` …     the surfaces: command line, admin API, dashboard
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcpwall.core.policy import (
        CompiledPolicy,
        Decision,
        PolicyError,
        compile_policy,
        evaluate,
        load_policy,
    )


def __getattr__(name: str) -> object:
    """The policy engine's names, on first use: ``import mcpwall.anything`` runs this module
    first, and ``mcpwall stdio`` must not wait for the policy compiler before it spawns its
    upstream (issue 16 §3)."""
    if name in _POLICY:
        import mcpwall.core.policy

        return getattr(mcpwall.core.policy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_POLICY = frozenset(
    {"CompiledPolicy", "Decision", "PolicyError", "compile_policy", "evaluate", "load_policy"}
)
__version__ = "0.1.0"

__all__ = [
    "CompiledPolicy",
    "Decision",
    "PolicyError",
    "__version__",
    "compile_policy",
    "evaluate",
    "load_policy",
]

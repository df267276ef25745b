"""mcpwall: a policy gateway for the Model Context Protocol.

The package is layered (DESIGN §2); a module imports only from its own layer or lower ones,
which ``tests/test_layers.py`` enforces:

1. ``mcpwall.core``      pure, synchronous, no I/O: messages, the policy engine, window arithmetic
2. ``mcpwall.ports``     small ``Protocol``s for all I/O, each with an in-memory fake
3. ``mcpwall.adapters``  the I/O: stores, counters, upstream clients, downstream servers
4. ``mcpwall.gateway``   the request pipeline
5. ``mcpwall.cli`` …     the surfaces: command line, admin API, dashboard
"""

from mcpwall.core.policy import (
    CompiledPolicy,
    Decision,
    PolicyError,
    compile_policy,
    evaluate,
    load_policy,
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

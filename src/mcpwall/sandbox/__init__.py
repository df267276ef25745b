"""The sandbox: a pretend Kubernetes cluster served over MCP, for trying agents and policies.

``mcpwall sandbox`` serves it on its own (stdio, or ``--http PORT``); ``mcpwall demo`` puts
mcpwall in front of it and plays the crashloop story. Nothing in it touches a real cluster.

- :mod:`~mcpwall.sandbox.cluster`: the cluster's state and operations (pure)
- :mod:`~mcpwall.sandbox.scenario`: the state it starts in (pure)
- :mod:`~mcpwall.sandbox.manifests`: reading ``apply_manifest``'s manifests (pure)
- :mod:`~mcpwall.sandbox.containers`: pod logs and ``exec`` output (pure)
- :mod:`~mcpwall.sandbox.server`: the MCP server, with the official SDK (the ``demo`` extra)
"""

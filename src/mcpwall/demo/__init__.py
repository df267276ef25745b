"""``mcpwall demo``: the seed's crashloop story, end to end, on the embedded default.

A throwaway ``MCPWALL_HOME``; the sandbox cluster (``mcpwall sandbox --http``) registered as an
upstream; the seed's policy, verbatim; grants; the real ``mcpwall serve``; and a scripted agent
(the official MCP client, over HTTP, with a grant's token) that does what the story says, each
step checked. Also an end-to-end check: a step that misbehaves ends the demo with status 1.

- :mod:`~mcpwall.demo.runner`: the whole run, start to stop
- :mod:`~mcpwall.demo.stage`: the home, the sandbox and the gateway, configured through the
  control plane
- :mod:`~mcpwall.demo.story`: the steps and their checks
- :mod:`~mcpwall.demo.agent`: the scripted agent, and the operator's view of the cluster
- :mod:`~mcpwall.demo.show`: how it prints
- :mod:`~mcpwall.demo.connect`: how to connect a real agent (``--keep``)
- :mod:`~mcpwall.demo.processes`: child processes, readiness, stopping
"""

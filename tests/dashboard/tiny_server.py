"""A tiny MCP server over stdio (legacy era), starting in milliseconds, whose texts are
hostile HTML: the upstreams page must show them escaped.

Usage::

    python tests/dashboard/tiny_server.py [TOOL ...]   # lists TOOL... (default: TOOLS below)

It refuses ``server/discover`` (a client falls back to ``initialize``), answers
``initialize`` and ``tools/list`` (one page), and ignores notifications.
"""

from __future__ import annotations

import json
import sys

HOSTILE = "<script>alert(1)</script>"
TOOLS: list[dict[str, object]] = [
    {
        "name": "delete_pod",
        "title": "Delete a pod",
        "description": f"Deletes a pod {HOSTILE}",
        "inputSchema": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": f"where {HOSTILE}"},
                "name": {"type": "string"},
                "force": {"type": ["boolean", "null"]},
            },
            "required": ["namespace", "name"],
        },
    },
    {"name": "get_pod_logs", "description": "Reads logs", "inputSchema": {"type": "object"}},
    {"name": "get_secret", "inputSchema": {"type": "object"}},
    {"name": "exec", "inputSchema": {"type": "object"}},
]


def answer(message: dict[str, object], tools: list[dict[str, object]]) -> dict[str, object]:
    method = message.get("method")
    if method == "initialize":
        result: dict[str, object] = {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": f"tiny {HOSTILE}", "version": "7"},
        }
    elif method == "tools/list":
        result = {"tools": tools}
    else:
        error = {"code": -32601, "message": f"no method {method}"}
        return {"jsonrpc": "2.0", "id": message["id"], "error": error}
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


def main() -> None:
    names = sys.argv[1:]
    tools: list[dict[str, object]] = TOOLS
    if names:
        tools = [{"name": name, "inputSchema": {"type": "object"}} for name in names]
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if "id" not in message:
            continue  # a notification
        sys.stdout.write(json.dumps(answer(message, tools)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

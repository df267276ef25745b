"""Downstream servers: how agents reach the gateway (Streamable HTTP, stdio)."""

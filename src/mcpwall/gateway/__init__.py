"""Layer 4, the gateway: the request pipeline; the one place exceptions become JSON-RPC errors."""

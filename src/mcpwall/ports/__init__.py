"""Layer 2, the ports: small ``Protocol``s in front of all I/O, each with an in-memory fake."""

"""Layer 3, the adapters: all I/O: stores, counters, upstream and downstream transports."""

"""Tests of `mcpwall.adapters.upstream`, against real processes and HTTP on 127.0.0.1."""

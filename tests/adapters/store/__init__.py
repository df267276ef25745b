"""Tests of `mcpwall.adapters.store`; a package so that its module names are unique to mypy."""

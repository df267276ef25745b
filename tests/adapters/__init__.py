"""Tests of `mcpwall.adapters`; a package so that its module names are unique to mypy."""

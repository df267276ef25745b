"""Tests of `mcpwall.ports`; a package so that its module names are unique to mypy."""

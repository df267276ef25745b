"""``python -m mcpwall`` runs the command line."""

from mcpwall.cli import main

main()

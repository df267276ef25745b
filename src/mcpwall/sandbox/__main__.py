"""``python -m mcpwall.sandbox [--http PORT]`` is ``mcpwall sandbox``."""

import sys

from mcpwall.cli import cli

cli(["sandbox", *sys.argv[1:]], prog_name="python -m mcpwall.sandbox")

#!/bin/sh
# Build mcpwall's wheel from SOURCE and install it into a new virtual environment at VENV,
# ready for a read-only filesystem: every module is compiled to bytecode now, since nothing
# can be written beside it at run time.
#
#   PYTHON=python3 build-venv.sh SOURCE VENV
#
# The Dockerfile's build stage runs this, and so does tests/deploy/test_image_recipe.py, which
# then serves from VENV as an unprivileged user with VENV read-only: the test proves the
# image's own recipe. PYTHON (default: python3) is the interpreter the venv is made from.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: build-venv.sh SOURCE VENV" >&2
    exit 2
fi
source_dir=$1
venv=$2
python=${PYTHON:-python3}
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT

"$python" -m venv "$venv"
# The wheel alone (its dependencies come next, into the venv).
"$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps \
    --wheel-dir "$wheels" "$source_dir"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile \
    "$wheels"/mcpwall-*.whl
# pip is not needed to run mcpwall: one tool fewer in the image.
"$venv/bin/python" -m pip uninstall --quiet --disable-pip-version-check --yes pip
# Hash-based pycs that are never checked against their sources: valid whatever times the
# files get when the stage is copied, and nothing is ever rewritten.
"$venv/bin/python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$venv"

"""The dashboard's vendored front-end files are the ones the lock records, load nothing from
elsewhere, and ship in the wheel. Offline: ``make vendor`` (tools/vendor_assets.py) is what
talks to the npm registry."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.javascript import external_references, split
from tests.tools.scripts import load_tool

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "src" / "mcpwall" / "dashboard" / "static" / "vendor"
LOCK_PATH = VENDOR / "vendor.lock.json"
HATCHLING = Path(sys.executable).with_name("hatchling")

LOCK: dict[str, Any] = json.loads(LOCK_PATH.read_text(encoding="utf-8"))
LOCKED_FILES: dict[str, dict[str, Any]] = {
    entry["file"]: {**entry, "package": package["name"], "version": package["version"]}
    for package in LOCK["packages"]
    for entry in package["files"]
}
SCRIPTS = sorted(name for name in LOCKED_FILES if name.endswith(".js"))


def package(name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(entry for entry in LOCK["packages"] if entry["name"] == name)
    return found


# -- the files against the lock ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOCKED_FILES))
def test_each_vendored_file_has_the_digest_in_the_lock(name: str) -> None:
    data = (VENDOR / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == LOCKED_FILES[name]["sha256"], (
        f"{name} is not the file {LOCKED_FILES[name]['package']} "
        f"{LOCKED_FILES[name]['version']} shipped: run `make vendor`"
    )


def test_every_file_in_the_vendor_directory_is_in_the_lock() -> None:
    present = {path.name for path in VENDOR.iterdir()} - {LOCK_PATH.name}
    assert present == set(LOCKED_FILES)


def test_the_lock_records_exact_versions_and_the_tarballs_sha512() -> None:
    assert {entry["name"] for entry in LOCK["packages"]} == {"htmx.org", "htmx-ext-sse"}
    for entry in LOCK["packages"]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), entry
        # An npm SRI string: sha512- and the base64 of 64 bytes.
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", entry["integrity"]), entry
        for file in entry["files"]:
            assert re.fullmatch(r"[0-9a-f]{64}", file["sha256"]), file


def test_the_lock_is_what_the_script_pins_and_writes() -> None:
    """Bumping a version in tools/vendor_assets.py without running ``make vendor`` fails
    here; so does a lock edited by hand."""
    script = load_tool("vendor_assets")
    pinned = [(pinned.name, pinned.version, pinned.files, pinned.why) for pinned in script.PACKAGES]
    locked = [
        (
            entry["name"],
            entry["version"],
            {f["file"]: f["from"] for f in entry["files"]},
            entry["why"],
        )
        for entry in LOCK["packages"]
    ]
    assert locked == pinned
    assert script.render_lock(LOCK["packages"]) == LOCK_PATH.read_bytes()


def test_htmx_is_version_2_as_locked() -> None:
    version = package("htmx.org")["version"]
    assert version.startswith("2.")
    assert f'version:"{version}"' in (VENDOR / "htmx.min.js").read_text(encoding="utf-8")


def test_the_sse_extension_is_the_one_for_htmx_2() -> None:
    """Not htmx.org's dist/ext/sse.js, the legacy htmx-1 extension, which warns
    "You are using an htmx 1 extension with htmx 2…" when it loads."""
    script = load_tool("vendor_assets")
    sse = package("htmx-ext-sse")
    assert script.caret_accepts(sse["declares"]["htmx.org"], package("htmx.org")["version"])
    source = (VENDOR / "htmx-ext-sse.js").read_text(encoding="utf-8")
    assert "htmx.defineExtension('sse'" in source
    assert "htmx 1 extension" not in source


# -- nothing loaded from elsewhere ---------------------------------------------------------------


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_vendored_script_loads_anything_from_another_origin(name: str) -> None:
    source = (VENDOR / name).read_text(encoding="utf-8")
    pieces = split(source)
    assert "".join(piece.text for piece in pieces) == source
    assert external_references(source) == []


def test_the_checks_see_the_sse_extensions_jsdoc_imports_and_pass_them() -> None:
    """The SSE extension's comments hold ``import("../htmx")`` (a JSDoc type): the check
    above passes it because the scanner reads it as a comment, not because it missed it."""
    source = (VENDOR / "htmx-ext-sse.js").read_text(encoding="utf-8")
    comments = [piece.text for piece in split(source) if piece.kind == "comment"]
    assert any('import("../htmx")' in comment for comment in comments)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("// see https://htmx.org/api/\nvar a = 1", [], id="URL in a line comment"),
        pytest.param('/** @type {import("../htmx").Api} */ var a', [], id="JSDoc import"),
        pytest.param("x.importNode(y); a.require(b)", [], id="methods named like loaders"),
        pytest.param("var r = /https?:\\/\\//; s = 'a//b'", [], id="escaped slashes, inner //"),
        pytest.param("var d = 'data:image/png;base64,AAAA'", [], id="data URL"),
        pytest.param(
            'import("https://cdn.example/x.js")',
            ["module loading: 'import'", "URL in a string: '\"https://cdn.example/x.js\"'"],
            id="dynamic import",
        ),
        pytest.param('import x from "./x.js"', ["module loading: 'import'"], id="static import"),
        pytest.param(
            "importScripts('w.js')", ["module loading: 'importScripts('"], id="importScripts"
        ),
        pytest.param(
            "var s = 'https://cdn.example/x.js'",
            ["URL in a string: \"'https://cdn.example/x.js'\""],
            id="URL in a string",
        ),
        pytest.param(
            "var s = '//cdn.example/x.js'",
            ["protocol-relative URL in a string: \"'//cdn.example/x.js'\""],
            id="protocol-relative",
        ),
        pytest.param(
            "var s = `wss://${host}/feed`",
            ["URL in a template: '`wss://${'"],
            id="URL in a template",
        ),
        pytest.param(
            'f(`a ${ {b: "https://e"}["b"] } c`)',
            ["URL in a string: '\"https://e\"'"],
            id="URL inside a substitution",
        ),
        pytest.param(
            'n = a / 2 + "https://e" + b / 3',
            ["URL in a string: '\"https://e\"'"],
            id="division is not a regex",
        ),
        pytest.param(
            "var a = 1\n//# sourceMappingURL=htmx.min.js.map",
            ["source map directive: '//# sourceMappingURL=htmx.min.js.map'"],
            id="source map",
        ),
    ],
)
def test_what_the_scanner_reports(source: str, expected: list[str]) -> None:
    assert external_references(source) == expected


@pytest.mark.parametrize(
    "source", ["'open", "/* open", "`open ${a", "`open", "x = /open\n", "a = 'line\nbreak'"]
)
def test_the_scanner_refuses_what_it_cannot_close(source: str) -> None:
    with pytest.raises(ValueError, match="unterminated"):
        split(source)


# -- shipped in the package ----------------------------------------------------------------------


def test_the_package_resources_hold_the_vendored_files() -> None:
    vendor = files("mcpwall.dashboard") / "static" / "vendor"
    for name, entry in LOCKED_FILES.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == entry["sha256"]
    assert (files("mcpwall.dashboard") / "static/vendor/htmx.min.js").is_file()


def test_the_wheel_contains_the_static_files(tmp_path: Path) -> None:
    """Hatchling packs every file under src/mcpwall that git does not ignore: so the static
    files need no configuration, as long as nothing ignores them."""
    subprocess.run(
        [str(HATCHLING), "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("mcpwall-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    prefix = "mcpwall/dashboard/static/vendor/"
    assert {prefix + name for name in [*LOCKED_FILES, LOCK_PATH.name]} <= names

"""Vendor the dashboard's front-end assets from the npm registry, hash-locked: ``make vendor``.

The dashboard loads its JavaScript from its own origin, never from a CDN: a CDN is one more
party that could change what the admin's browser runs, and the page's CSP (``default-src
'self'``) would refuse it anyway. The files live in ``src/mcpwall/dashboard/static/vendor/``,
and ``vendor.lock.json`` beside them records, per package, the exact version, the npm
tarball's ``integrity`` and the SHA-256 of every file taken from it. A test
(``tests/dashboard/test_vendor.py``) checks the files against the lock, offline.

For each package in :data:`PACKAGES` (the one place versions are pinned) this script:

1. asks the registry for the version's ``dist.integrity`` (``npm view``);
2. fetches the tarball with ``npm pack`` into a temporary directory and checks its SHA-512
   against that integrity, and against the integrity already in the lock for the same version
   (a published npm version cannot change; if its tarball did, stop and find out why);
3. checks the dependency ranges the package declares on the other vendored packages accept
   the versions vendored (the SSE extension must declare htmx 2);
4. reads only the named regular files out of the tarball (nothing is extracted wholesale) and
   writes each one whose bytes differ, then the lock if it differs.

Running it again with the same pins changes nothing. It needs ``npm`` and the registry, and
only the standard library, so it runs on the system Python without the virtualenv.

A Python script rather than shell: it parses npm's JSON, computes SRI digests, reads single
members out of a tarball (refusing links) and writes a deterministic JSON lock — each a line
of Python, and fragile in sh.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "src" / "mcpwall" / "dashboard" / "static" / "vendor"
LOCK_NAME = "vendor.lock.json"
NPM_TIMEOUT = 300


@dataclass(frozen=True, slots=True)
class Package:
    """An npm package at an exact version; ``files`` maps each vendored file's name to its
    path inside the package."""

    name: str
    version: str
    files: dict[str, str]
    why: str


PACKAGES: tuple[Package, ...] = (
    Package(
        name="htmx.org",
        version="2.0.11",
        files={"htmx.min.js": "dist/htmx.min.js", "htmx.LICENSE": "LICENSE"},
        why="htmx 2: the dashboard's server-rendered interactions (hx-get and swaps).",
    ),
    Package(
        name="htmx-ext-sse",
        version="2.2.4",
        files={"htmx-ext-sse.js": "dist/sse.js", "htmx-ext-sse.LICENSE": "LICENSE"},
        why=(
            "The Server-Sent Events extension for htmx 2 (updates pushed by the server). "
            "Not htmx.org's own dist/ext/sse.js: that is the legacy htmx-1 extension "
            "(htmx.org's dist/ext/README.md says so, and it logs a warning under htmx 2); "
            "the htmx-2 extensions are published as separate packages, and this one declares "
            "htmx.org ^2 as its dependency. dist/sse.js is the readable (unminified) build, 9 kB."
        ),
    ),
)

LOCK_COMMENT = (
    "Written by tools/vendor_assets.py (`make vendor`); do not edit by hand. Each file here "
    "was read out of the npm tarball of the package at the exact version shown, after the "
    "tarball's SHA-512 matched the registry's `integrity`. sha256 is the file's own digest, "
    "checked by tests/dashboard/test_vendor.py. Served from the dashboard's own origin: no CDN."
)


class VendorError(Exception):
    """Something about a package is not as pinned: stop, and change nothing."""


def sri_sha512(data: bytes) -> str:
    """The Subresource Integrity string npm records for a tarball: ``sha512-`` base64."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


_CARET = re.compile(r"^\^(\d+)\.(\d+)\.(\d+)$")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def caret_accepts(requirement: str, version: str) -> bool:
    """Whether ``version`` satisfies the npm range ``requirement``, for the one form the
    vendored packages use, ``^X.Y.Z`` with X >= 1 (same major, not older); VendorError for
    any other form, so that a new one gets looked at by a person."""
    wanted, have = _CARET.match(requirement), _VERSION.match(version)
    if wanted is None or have is None or wanted.group(1) == "0":
        raise VendorError(f"cannot judge whether {version!r} satisfies {requirement!r}")
    low = tuple(int(part) for part in wanted.groups())
    mine = tuple(int(part) for part in have.groups())
    return mine[0] == low[0] and mine >= low


def npm(*args: str, cwd: Path) -> Any:
    """``npm ARGS --json`` in ``cwd``; its parsed output."""
    executable = shutil.which("npm")
    if executable is None:
        raise VendorError("npm is not on PATH (install Node.js 20+ with npm)")
    done = subprocess.run(  # noqa: S603 (npm from PATH, arguments from PACKAGES)
        [executable, *args, "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise VendorError(f"npm {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else None


def registry_view(package: Package, cwd: Path) -> dict[str, Any]:
    """The registry's record of the exact version: its ``version``, ``dist.integrity`` and
    ``dependencies``."""
    spec = f"{package.name}@{package.version}"
    view = npm("view", spec, "version", "dist.integrity", "dependencies", cwd=cwd)
    if not isinstance(view, dict) or view.get("version") != package.version:
        raise VendorError(f"the registry has no version {spec} (npm view answered {view!r})")
    integrity = view.get("dist.integrity")
    if not isinstance(integrity, str) or not integrity.startswith("sha512-"):
        raise VendorError(f"{spec}: no sha512 integrity in the registry ({integrity!r})")
    return view


def fetch_tarball(package: Package, integrity: str, cwd: Path) -> bytes:
    """The package's tarball, by ``npm pack``, once its SHA-512 matches ``integrity``."""
    spec = f"{package.name}@{package.version}"
    packed = npm("pack", spec, "--ignore-scripts", "--pack-destination", str(cwd), cwd=cwd)
    filename = packed[0].get("filename") if isinstance(packed, list) and len(packed) == 1 else None
    if not isinstance(filename, str) or Path(filename).name != filename:
        raise VendorError(f"npm pack {spec} answered {packed!r}")
    data = (cwd / filename).read_bytes()
    actual = sri_sha512(data)
    if actual != integrity:
        raise VendorError(f"{spec}: the tarball's {actual} is not the registry's {integrity}")
    return data


def read_members(tarball: bytes, package: Package, cwd: Path) -> dict[str, bytes]:
    """The bytes of each file in ``package.files``, read from the tarball's ``package/``."""
    path = cwd / "package.tgz"
    path.write_bytes(tarball)
    found: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as archive:
        for name, inside in package.files.items():
            try:
                member = archive.getmember(f"package/{inside}")
            except KeyError:
                raise VendorError(f"{package.name}: no {inside} in the tarball") from None
            reader = archive.extractfile(member) if member.isfile() else None
            if reader is None:
                raise VendorError(f"{package.name}: {inside} is not a regular file")
            with reader:
                found[name] = reader.read()
    return found


def check_declared_ranges(package: Package, view: dict[str, Any]) -> dict[str, str]:
    """The ranges ``package`` declares on the other vendored packages; VendorError unless
    each accepts the version vendored."""
    pinned = {other.name: other.version for other in PACKAGES}
    declared = view.get("dependencies") or {}
    ranges = {name: declared[name] for name in sorted(declared) if name in pinned}
    for name, requirement in ranges.items():
        if not caret_accepts(requirement, pinned[name]):
            raise VendorError(
                f"{package.name}@{package.version} requires {name} {requirement}, "
                f"but {name} {pinned[name]} is vendored"
            )
    return ranges


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def render_lock(entries: list[dict[str, Any]]) -> bytes:
    document = {"comment": LOCK_COMMENT, "packages": entries}
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def read_lock(vendor: Path) -> dict[str, Any]:
    path = vendor / LOCK_NAME
    if not path.exists():
        return {"packages": []}
    lock: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return lock


def vendor(directory: Path = VENDOR) -> list[str]:
    """Refresh every package into ``directory`` and rewrite its lock; the names of the files
    that changed (none when everything was already as pinned)."""
    previous = {entry["name"]: entry for entry in read_lock(directory)["packages"]}
    contents: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mcpwall-vendor-") as temporary:
        for package in PACKAGES:
            work = Path(temporary) / package.name
            work.mkdir()
            view = registry_view(package, work)
            integrity: str = view["dist.integrity"]
            earlier = previous.get(package.name, {})
            if earlier.get("version") == package.version and earlier["integrity"] != integrity:
                raise VendorError(
                    f"{package.name}@{package.version}: the registry's integrity {integrity} "
                    f"is not the {earlier['integrity']} recorded in the lock"
                )
            ranges = check_declared_ranges(package, view)
            files = read_members(fetch_tarball(package, integrity, work), package, work)
            contents.update(files)
            entry: dict[str, Any] = {
                "name": package.name,
                "version": package.version,
                "integrity": integrity,
                "why": package.why,
            }
            if ranges:
                entry["declares"] = ranges
            entry["files"] = [
                {
                    "file": name,
                    "from": package.files[name],
                    "sha256": hashlib.sha256(files[name]).hexdigest(),
                }
                for name in package.files
            ]
            entries.append(entry)
    # Everything fetched and checked: only now touch the directory.
    directory.mkdir(parents=True, exist_ok=True)
    changed = [name for name, data in contents.items() if write_if_changed(directory / name, data)]
    for entry in previous.values():
        for stale in entry.get("files", []):
            if stale["file"] not in contents and (directory / stale["file"]).exists():
                (directory / stale["file"]).unlink()
                changed.append(stale["file"])
    if write_if_changed(directory / LOCK_NAME, render_lock(entries)):
        changed.append(LOCK_NAME)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--into", type=Path, default=VENDOR, help="the vendor directory")
    options = parser.parse_args(argv)
    try:
        changed = vendor(options.into)
    except (VendorError, subprocess.TimeoutExpired) as error:
        print(f"vendor_assets: {error}", file=sys.stderr)
        return 1
    for package in PACKAGES:
        print(f"{package.name}@{package.version}: {', '.join(package.files)}")
    print("changed: " + (", ".join(changed) if changed else "nothing (already as pinned)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""tools/vendor_assets.py (``make vendor``) against a fake npm: it writes the pinned files and
their lock, changes nothing when run again, and stops before writing anything when a tarball,
the lock or a declared range is not as it should be."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.tools.scripts import load_tool


def tarball(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    """An npm-style tarball: every member under ``package/``; ``links`` as symlinks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(f"package/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    return buffer.getvalue()


class FakeRegistry:
    """Answers the script's ``npm view`` and ``npm pack`` calls from tarballs held here."""

    def __init__(self) -> None:
        self.tarballs: dict[str, bytes] = {}
        self.dependencies: dict[str, dict[str, str]] = {}
        self.integrity: dict[str, str] = {}  # what the registry claims, when not the truth

    def publish(self, spec: str, members: dict[str, bytes], **options: Any) -> None:
        self.tarballs[spec] = tarball(members, **options)

    def npm(self, *args: str, cwd: Path) -> Any:
        command, spec = args[0], args[1]
        data = self.tarballs[spec]
        if command == "view":
            truth = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
            view: dict[str, Any] = {
                "version": spec.rpartition("@")[2],
                "dist.integrity": self.integrity.get(spec, truth),
            }
            if spec in self.dependencies:
                view["dependencies"] = self.dependencies[spec]
            return view
        assert command == "pack"
        destination = Path(args[args.index("--pack-destination") + 1])
        filename = spec.replace("@", "-") + ".tgz"
        (destination / filename).write_bytes(data)
        return [{"filename": filename}]


@pytest.fixture
def script() -> ModuleType:
    return load_tool("vendor_assets")


@pytest.fixture
def registry(script: ModuleType, monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    """A registry with lib@1.2.3 and its plugin lib-ext@2.0.0 (declaring lib ^1.0.0), pinned."""
    fake = FakeRegistry()
    fake.publish("lib@1.2.3", {"dist/lib.min.js": b"lib();\n", "LICENSE": b"0BSD\n"})
    fake.publish("lib-ext@2.0.0", {"dist/ext.js": b"ext();\n", "LICENSE": b"MIT\n"})
    fake.dependencies["lib-ext@2.0.0"] = {"lib": "^1.0.0", "unrelated": "^9.0.0"}
    monkeypatch.setattr(script, "npm", fake.npm)
    pin(script, monkeypatch, lib="1.2.3")
    return fake


LIB_FILES = {"lib.min.js": "dist/lib.min.js", "lib.LICENSE": "LICENSE"}


def pin(
    script: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    *,
    lib: str,
    lib_files: dict[str, str] = LIB_FILES,
) -> None:
    """Pin lib at version ``lib`` (vendoring ``lib_files``) and lib-ext at 2.0.0."""
    package: Callable[..., Any] = script.Package
    packages = (
        package(name="lib", version=lib, files=lib_files, why="the library"),
        package(
            name="lib-ext",
            version="2.0.0",
            files={"lib-ext.js": "dist/ext.js"},
            why="its extension",
        ),
    )
    monkeypatch.setattr(script, "PACKAGES", packages)


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Each file's bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


def test_vendors_the_pinned_files_and_locks_them(
    script: ModuleType, registry: FakeRegistry, tmp_path: Path
) -> None:
    changed = script.vendor(tmp_path)

    assert sorted(changed) == ["lib-ext.js", "lib.LICENSE", "lib.min.js", "vendor.lock.json"]
    assert (tmp_path / "lib.min.js").read_bytes() == b"lib();\n"
    assert (tmp_path / "lib-ext.js").read_bytes() == b"ext();\n"
    lock = json.loads((tmp_path / "vendor.lock.json").read_text(encoding="utf-8"))
    lib, ext = lock["packages"]
    assert (lib["name"], lib["version"]) == ("lib", "1.2.3")
    assert lib["integrity"] == registry.npm("view", "lib@1.2.3", cwd=tmp_path)["dist.integrity"]
    assert lib["files"][0] == {
        "file": "lib.min.js",
        "from": "dist/lib.min.js",
        "sha256": hashlib.sha256(b"lib();\n").hexdigest(),
    }
    assert "declares" not in lib
    assert ext["declares"] == {"lib": "^1.0.0"}  # only ranges on vendored packages


def test_running_it_again_changes_nothing(
    script: ModuleType, registry: FakeRegistry, tmp_path: Path
) -> None:
    script.vendor(tmp_path)
    before = snapshot(tmp_path)

    assert script.vendor(tmp_path) == []
    assert snapshot(tmp_path) == before  # not even rewritten with the same bytes


def test_a_changed_file_is_put_back(
    script: ModuleType, registry: FakeRegistry, tmp_path: Path
) -> None:
    script.vendor(tmp_path)
    (tmp_path / "lib.min.js").write_bytes(b"evil();\n")

    assert script.vendor(tmp_path) == ["lib.min.js"]
    assert (tmp_path / "lib.min.js").read_bytes() == b"lib();\n"


def test_a_new_pin_replaces_the_files_and_removes_those_no_longer_pinned(
    script: ModuleType, registry: FakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script.vendor(tmp_path)
    registry.publish("lib@1.3.0", {"dist/lib.min.js": b"lib(2);\n", "LICENSE": b"0BSD\n"})
    pin(script, monkeypatch, lib="1.3.0", lib_files={"lib.min.js": "dist/lib.min.js"})

    changed = script.vendor(tmp_path)

    assert sorted(changed) == ["lib.LICENSE", "lib.min.js", "vendor.lock.json"]
    assert not (tmp_path / "lib.LICENSE").exists()
    assert (tmp_path / "lib.min.js").read_bytes() == b"lib(2);\n"


def test_a_tarball_that_is_not_the_registrys_is_refused_and_nothing_written(
    script: ModuleType, registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.integrity["lib-ext@2.0.0"] = "sha512-" + base64.b64encode(bytes(64)).decode()

    with pytest.raises(script.VendorError, match="is not the registry's"):
        script.vendor(tmp_path)
    assert list(tmp_path.iterdir()) == []  # lib was fine, but nothing is written until all are


def test_a_version_whose_integrity_changed_since_the_lock_is_refused(
    script: ModuleType, registry: FakeRegistry, tmp_path: Path
) -> None:
    script.vendor(tmp_path)
    before = snapshot(tmp_path)
    registry.publish("lib@1.2.3", {"dist/lib.min.js": b"republished();\n", "LICENSE": b"0BSD\n"})

    with pytest.raises(script.VendorError, match="recorded in the lock"):
        script.vendor(tmp_path)
    assert snapshot(tmp_path) == before


def test_an_extension_declaring_another_major_is_refused(
    script: ModuleType, registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.dependencies["lib-ext@2.0.0"] = {"lib": "^2.0.0"}

    with pytest.raises(script.VendorError, match=r"requires lib \^2\.0\.0, but lib 1\.2\.3"):
        script.vendor(tmp_path)


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        pytest.param({"LICENSE": b"MIT\n"}, (), "no dist/ext.js in the tarball", id="missing"),
        pytest.param(
            {"LICENSE": b"MIT\n"}, ("dist/ext.js",), "dist/ext.js is not a regular file", id="link"
        ),
    ],
)
def test_a_file_the_tarball_lacks_or_links_is_refused(
    script: ModuleType,
    registry: FakeRegistry,
    tmp_path: Path,
    members: dict[str, bytes],
    links: tuple[str, ...],
    message: str,
) -> None:
    registry.publish("lib-ext@2.0.0", members, links=links)

    with pytest.raises(script.VendorError, match=message):
        script.vendor(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_main_reports_a_refusal_and_exits_1(
    script: ModuleType,
    registry: FakeRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry.dependencies["lib-ext@2.0.0"] = {"lib": "^2.0.0"}

    assert script.main(["--into", str(tmp_path)]) == 1
    assert "vendor_assets: lib-ext@2.0.0 requires lib ^2.0.0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("requirement", "version", "accepted"),
    [
        ("^2.0.2", "2.0.2", True),
        ("^2.0.2", "2.0.11", True),
        ("^2.0.2", "2.9.0", True),
        ("^2.0.2", "2.0.1", False),
        ("^2.0.2", "1.9.12", False),
        ("^2.0.2", "3.0.0", False),
    ],
)
def test_caret_ranges(script: ModuleType, requirement: str, version: str, accepted: bool) -> None:
    assert script.caret_accepts(requirement, version) is accepted


@pytest.mark.parametrize(
    ("requirement", "version"),
    [(">=2.0.0", "2.0.1"), ("^0.2.0", "0.2.1"), ("^2.0.2", "2.1.0-beta.1"), ("2.x", "2.0.0")],
)
def test_ranges_it_cannot_judge_are_refused(
    script: ModuleType, requirement: str, version: str
) -> None:
    with pytest.raises(script.VendorError, match="cannot judge"):
        script.caret_accepts(requirement, version)

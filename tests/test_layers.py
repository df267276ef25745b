"""The layering of DESIGN §2: a module imports only from its own layer or lower ones.

The pure core also may not import anything that performs I/O or reads the clock.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src" / "mcpwall"

# Subpackage (or top-level module) of mcpwall → its layer number.
LAYERS = {
    "__init__": 1,  # the public API re-exports the core and nothing else
    "core": 1,
    "ports": 2,
    "adapters": 3,
    "gateway": 4,
    "control": 4,  # control-plane operations shared by the CLI, the admin API and apply
    "cli": 5,
    "admin": 5,
    "dashboard": 5,
    "__main__": 5,
    "wiring": 5,  # assembles the data plane from concrete adapters
    "sandbox": 5,  # the pretend Kubernetes MCP server of `mcpwall sandbox`
    "demo": 5,  # `mcpwall demo`: the gateway in front of the sandbox, a scripted agent
}

# Modules the pure core must never import: each performs I/O, reads the clock or the environment.
CORE_FORBIDDEN = {
    "aiohttp", "alembic", "anyio", "asyncio", "click", "cryptography", "http", "httptools",
    "httpx", "io", "logging", "os", "pathlib", "psycopg", "random", "redis", "rich", "secrets",
    "select", "selectors", "shutil", "signal", "socket", "sqlalchemy", "sqlite3", "starlette",
    "subprocess", "sys", "tempfile", "threading", "time", "urllib", "uvicorn",
}  # fmt: skip


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    assert parts[0] == "mcpwall"
    key = parts[1] if len(parts) > 1 else "__init__"
    assert key in LAYERS, f"{module}: not in any layer; add {key!r} to LAYERS"
    return LAYERS[key]


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                yield node.lineno, ".".join([*base, node.module] if node.module else base)
            else:
                assert node.module is not None
                yield node.lineno, node.module


SOURCES = sorted(PACKAGE_ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_imports_go_downward_only(path: Path) -> None:
    own = layer_of(module_name(path))
    for line, imported in imports_of(path):
        if imported.split(".")[0] != "mcpwall" or imported == "mcpwall":
            continue
        assert layer_of(imported) <= own, (
            f"{path.relative_to(PACKAGE_ROOT)}:{line}: layer {own} imports {imported} "
            f"(layer {layer_of(imported)}); a module may import only its own layer or lower ones"
        )


CORE_SOURCES = [p for p in SOURCES if layer_of(module_name(p)) == 1]


@pytest.mark.parametrize("path", CORE_SOURCES, ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_core_does_no_io(path: Path) -> None:
    for line, imported in imports_of(path):
        top = imported.split(".")[0]
        assert top not in CORE_FORBIDDEN, (
            f"{path.relative_to(PACKAGE_ROOT)}:{line}: the pure core imports {imported}, "
            "which does I/O or reads the clock; move that code to an adapter behind a port"
        )


# Modules above the core that are pure all the same, and must stay so: the sandbox's cluster.
PURE_ELSEWHERE = ["sandbox/cluster.py", "sandbox/scenario.py", "sandbox/manifests.py",
                  "sandbox/containers.py"]  # fmt: skip


@pytest.mark.parametrize("relative", PURE_ELSEWHERE)
def test_pure_modules_above_the_core_do_no_io(relative: str) -> None:
    path = PACKAGE_ROOT / relative
    for line, imported in imports_of(path):
        top = imported.split(".")[0]
        assert top not in CORE_FORBIDDEN | {"mcp", "mcp_types"}, (
            f"{relative}:{line}: imports {imported}, which does I/O; keep this module pure"
        )


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    """The layer check itself can fail: an upward import in a core module is reported."""
    fake = PACKAGE_ROOT / "core" / "_layer_probe.py"
    source = "from mcpwall.gateway import pipeline\n"
    tree_imports = list(ast.walk(ast.parse(source)))
    imported = next(n for n in tree_imports if isinstance(n, ast.ImportFrom))
    assert imported.module is not None
    assert layer_of(imported.module) > layer_of(module_name(fake))


def test_the_dashboard_and_the_admin_api_do_not_import_each_other() -> None:
    """Two surfaces side by side: what they share lives lower (control, core), and the admin
    app serves the dashboard by its factory alone."""
    crossing = []
    for path in SOURCES:
        module = module_name(path)
        for line, imported in imports_of(path):
            if module.startswith("mcpwall.dashboard") and imported.startswith("mcpwall.admin"):
                crossing.append(f"{module}:{line} imports {imported}")
            factory = imported in ("mcpwall.dashboard", "mcpwall.dashboard.tail")
            if module.startswith("mcpwall.admin") and imported.startswith("mcpwall.dashboard"):
                crossing += [] if factory else [f"{module}:{line} imports {imported}"]
    assert crossing == []

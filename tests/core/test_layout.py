"""The tree is the diagram: dependencies point one way (providers → queries → core), each room says what it is
for, every package is installed, and nothing is a symlink."""

from __future__ import annotations

import ast
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "positron"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_the_catalog_or_a_provider(path: Path) -> None:
    outward = {m for m in _imports(path) if m.startswith(("positron.queries", "positron.providers"))}
    assert outward == set(), f"{path.relative_to(ROOT)} imports {outward}: the core finds them through entry points"


def test_queries_never_import_providers() -> None:
    for path in (ROOT / "queries").rglob("*.py"):
        assert not {m for m in _imports(path) if m.startswith("positron.providers")}, path


def test_every_room_says_what_it_is_for() -> None:
    for init in CORE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} needs a docstring saying what the room is for"


def test_every_package_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {Path(d): name for name, d in config["package-dir"].items()}
    found = set()
    for init in [p for top in (CORE, ROOT / "providers", ROOT / "queries") for p in top.rglob("__init__.py")]:
        rel = init.parent.relative_to(ROOT)
        top = next(p for p in [rel, *rel.parents] if p in mapped)
        found.add(".".join([mapped[top], *rel.relative_to(top).parts]))
    assert found <= set(config["packages"]), f"not installed: {sorted(found - set(config['packages']))}"


def test_no_symlinks_in_the_repository() -> None:
    files = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    links = [line.split("\t")[1] for line in files.splitlines() if line.startswith("120000")]
    assert links == []

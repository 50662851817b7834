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


PROVIDER_SURFACE = ("positron.provider", "positron.queries")


@pytest.mark.parametrize(
    "path", sorted((ROOT / "providers").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_providers_import_the_core_only_through_its_public_surface(path: Path) -> None:
    """What a provider author imports comes from one place: positron.provider (interface, answer model, errors,
    Secret, normalizers, HTTP plumbing) and positron.queries (query objects and their models); a provider
    package may import its own modules, and any provider the private helpers they share (providers/_name.py)."""
    rel = path.relative_to(ROOT / "providers")
    own = "positron.providers." + (rel.parts[0] if len(rel.parts) > 1 else rel.stem)
    core = {m for m in _imports(path) if m == "positron" or m.startswith("positron.")}
    allowed = {
        m
        for m in core
        if m in PROVIDER_SURFACE
        or m.startswith(("positron.queries.", "positron.providers._"))
        or m.startswith(own)
    }
    assert core - allowed == set(), f"providers/{rel} imports {sorted(core - allowed)}: use positron.provider"


def test_the_provider_surface_is_explicit_and_sorted() -> None:
    import positron.provider as surface

    assert surface.__all__ == sorted(surface.__all__)
    assert all(hasattr(surface, name) for name in surface.__all__)
    used = {
        alias.name
        for path in (ROOT / "providers").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "positron.provider"
        for alias in node.names
    }
    assert used - set(surface.__all__) == set(), "providers import names positron.provider does not export"

"""The layout's import rules: the core is pure, adapters know no pass, only the service wires everything.

Read from the source with `ast` (nothing is imported), so a forbidden import fails here even in a
module no other test loads.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
# What each layer may import from the bridge, besides itself.
ALLOWED = {
    "core": ("bridge.core", "bridge.errors"),
    "adapters": ("bridge.core", "bridge.errors", "bridge.adapters", "bridge.service.config", "bridge"),
    "sync": ("bridge.core", "bridge.errors", "bridge.adapters", "bridge.sync", "bridge.service.config"),
    "service": ("bridge",),
}


def _bridge_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name == "bridge" or name.startswith("bridge.")]


def _allowed(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    """Core modules import no adapter, sync or service module; adapters import no pass; and so on."""
    modules = sorted((BRIDGE / layer).rglob("*.py"))
    assert modules, f"no modules under bridge/{layer}"
    offences = [
        f"{path.relative_to(BRIDGE.parent)} imports {name}"
        for path in modules
        for name in _bridge_imports(path)
        if not _allowed(name, ALLOWED[layer])
    ]
    assert offences == []


def test_only_the_package_and_the_exception_family_sit_at_the_top() -> None:
    """Every other module is in a layer."""
    assert sorted(path.name for path in BRIDGE.glob("*.py")) == ["__init__.py", "__main__.py", "errors.py"]


def test_no_module_grows_past_400_lines() -> None:
    """A module that outgrows 400 lines does several jobs; split it by concern."""
    too_long = {
        str(path.relative_to(BRIDGE.parent)): lines
        for path in BRIDGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert too_long == {}


def test_every_module_says_what_it_is_for() -> None:
    """Each module opens with a docstring."""
    missing = [
        str(path.relative_to(BRIDGE.parent))
        for path in BRIDGE.rglob("*.py")
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []

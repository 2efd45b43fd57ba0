"""The package's layering and export rules, checked on its source (a new module cannot break them unnoticed)."""
import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "companion"
MODULES = sorted(ROOT.rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module imported from, names) for every import statement of a companion source file."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


@pytest.mark.parametrize("sibling, other", [("prune", "quant"), ("quant", "prune")])
def test_prune_and_quant_are_siblings(sibling, other):
    for path in (ROOT / sibling).glob("*.py"):
        for module, names in _imports(path):
            targets = [module] + [f"{module}.{name}" for name in names]
            assert not any(t == f"companion.{other}" or t.startswith(f"companion.{other}.") for t in targets), \
                f"{path.name} imports companion.{other}"


def test_no_private_name_is_imported_across_modules():
    for path in MODULES:
        for module, names in _imports(path):
            if module.startswith("companion"):
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                assert not private, f"{path.relative_to(ROOT.parent)} imports private {private} from {module}"


def test_measure_does_not_import_train():
    assert not any(m == "companion.train" or "train" in names and m == "companion"
                   for m, names in _imports(ROOT / "measure.py"))


@pytest.mark.parametrize("package", ["companion.quant", "companion.prune"])
def test_one_export_policy(package):
    """The package re-exports every public name of each of its modules; no name twice."""
    pkg = importlib.import_module(package)
    for path in sorted((ROOT / package.split(".")[1]).glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"{package}.{path.stem}")
        assert set(module.__all__) <= set(pkg.__all__), f"{package} does not re-export all of {path.stem}"
        assert all(getattr(pkg, name) is getattr(module, name) for name in module.__all__)
    assert len(pkg.__all__) == len(set(pkg.__all__))
    assert all(hasattr(pkg, name) for name in pkg.__all__)

"""The package layout keeps data flowing one way: spec -> model -> train/runs -> analysis
-> figures -> ui. Streamlit stays in the UI, analysis and figures know nothing of the UI,
and figure builders run without torch."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

PACKAGE = ROOT / "playground"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST) -> set[str]:
    """Every module a file imports at run time (imports only for type checkers excluded)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking_block(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = {_module_name(path): _imports(ast.parse(path.read_text(encoding="utf-8")))
           for path in PACKAGE.rglob("*.py")}


def _importers(prefix: str) -> dict[str, set[str]]:
    return {module: imports for module, imports in MODULES.items()
            if module == prefix or module.startswith(prefix + ".")}


def _is_ui(module: str) -> bool:
    return module == "playground.ui" or module.startswith("playground.ui.")


def test_streamlit_is_imported_only_by_the_ui_package() -> None:
    offenders = {module: sorted(name for name in imports if name.split(".")[0].startswith("streamlit"))
                 for module, imports in MODULES.items() if not _is_ui(module)}
    assert {m: names for m, names in offenders.items() if names} == {}


def test_analysis_and_figures_import_nothing_from_the_ui() -> None:
    for package in ("playground.analysis", "playground.figures"):
        for module, imports in _importers(package).items():
            assert not any(_is_ui(name) for name in imports), module


def test_figure_builders_run_without_torch() -> None:
    figures = sorted(_importers("playground.figures"))
    code = (f"import sys\nfor name in {figures!r}:\n    __import__(name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
            "print(loaded[:5])\nsys.exit(1 if loaded else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"importing the figures loads torch: {result.stdout}{result.stderr}"


def test_the_command_line_and_the_run_core_load_no_streamlit() -> None:
    code = ("import sys, playground.cli, playground.runs, playground.train.trainer\n"
            "sys.exit(1 if any(m.startswith('streamlit') for m in sys.modules) else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


HISTORY_NAME = re.compile(r"_part\d|_deep\b|issue \d", re.IGNORECASE)


def test_no_module_or_comment_is_named_after_the_order_work_was_done() -> None:
    named = [str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
             if HISTORY_NAME.search(path.stem)]
    mentioned = [f"{path.relative_to(ROOT)}:{number}"
                 for path in [*PACKAGE.rglob("*.py"), ROOT / "app.py"]
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if HISTORY_NAME.search(line)]
    assert named == [] and mentioned == []

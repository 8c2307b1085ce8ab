"""The house rules of docs/architecture.md, checked: what the library imports, and when."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import wordexperts

LIBRARY = Path(wordexperts.__file__).parent
PEER_LIBRARIES = ("xgboost", "lightgbm", "catboost", "rtdl_revisiting_models", "tab_transformer_pytorch")


def _imported_modules(argv: list[str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime ARGV`` and return the process and every module it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, timeout=300)
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done, modules


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_fitting_and_predicting_imports_no_peer_library_and_no_experiment():
    script = (
        "import sys\n"
        "import pandas as pd\n"
        "import wordexperts\n"
        "X = pd.DataFrame({'colour': ['red', 'blue'] * 20, 'size': [float(i % 5) for i in range(40)]})\n"
        "y = ['warm' if c == 'red' else 'cold' for c in X['colour']]\n"
        "model = wordexperts.WordExpertsClassifier(epochs=2, random_state=0).fit(X, y)\n"
        "assert len(model.predict(X)) == 40\n"
    )
    done, modules = _imported_modules(["-c", script])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch" in _top_level(modules)  # the check sees imports at all
    assert not _top_level(modules) & {*PEER_LIBRARIES, "wordexperts_bench"}


def test_help_and_usage_errors_import_no_torch():
    done, modules = _imported_modules(["-m", "wordexperts", "--help"])
    assert done.returncode == 0 and "fit" in done.stdout and "reproduce" in done.stdout
    assert "wordexperts.cli" in modules and "torch" not in _top_level(modules)
    done, modules = _imported_modules(["-m", "wordexperts", "fit"])  # missing arguments: a usage error
    assert done.returncode == 2 and "required" in done.stderr
    assert "torch" not in _top_level(modules) and "pandas" not in _top_level(modules)


def _imports(source: Path) -> list[tuple[str, int]]:
    """Absolute names of the modules a library file imports (relative imports resolved), with line numbers."""
    package = ["wordexperts", *source.parent.relative_to(LIBRARY).parts]
    found = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [f"{module}.{alias.name}" for alias in node.names] if not node.module else [module]
            found += [(name, node.lineno) for name in names]
    return found


def test_the_library_imports_the_experiments_only_through_the_cli_hook():
    offenders = []
    for source in LIBRARY.rglob("*.py"):
        for module, line in _imports(source):
            if module.split(".")[0] == "wordexperts_bench" and source.name != "cli.py":
                offenders.append(f"{source.relative_to(LIBRARY)}:{line} imports {module}")
    assert not offenders
    hook = [m for m, _ in _imports(LIBRARY / "cli.py") if m.startswith("wordexperts_bench")]
    assert hook == ["wordexperts_bench.cli"]


def test_core_imports_no_other_layer():
    """core knows nothing of training, tables, analogies, files or reports; it shares only the argument
    checks and the error classes."""
    for source in (LIBRARY / "core").rglob("*.py"):
        for module, line in _imports(source):
            if module.startswith("wordexperts"):
                allowed = ("wordexperts.core", "wordexperts.checks", "wordexperts.errors")
                assert module.startswith(allowed), f"{source.name}:{line} {module}"


def test_leaves_import_no_layer_above_them():
    for name in ("checks.py", "files.py", "reporting.py"):
        for module, line in _imports(LIBRARY / name):
            if module.startswith("wordexperts"):
                leaves = {"wordexperts.files", "wordexperts.checks", "wordexperts.errors"}
                assert module in leaves, f"{name}:{line} {module}"

"""The package's folders import one way (gate/ at the base; capture/, config/ and analysis/
on it; report/ on analysis/; export/ on report/; run/ and the two faces on top), and ruff's
rule of each folder fails an import that breaks it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pytest_llmobs"
TOP = {"plugin", "cli"}  # the two faces, the only top-level modules
# what each folder may import of the package
ALLOWED: dict[str, set[str]] = {
    "gate": set(),
    "capture": {"gate"},
    "config": {"gate"},
    "analysis": {"gate"},
    "report": {"gate", "analysis"},
    "command": {"config", "gate", "analysis", "report", "export"},
    "run": {"capture", "config", "gate", "analysis", "report", "export"},
    "export": {"gate", "analysis", "report"},
}
# where each third-party framework may be imported: the two adapters
FRAMEWORKS = {
    "pytest": {"run", "plugin"},
    "_pytest": {"run"},
    "opentelemetry": {"capture", "export"},
}
# bans a folder's table drops
LIFTED = {"run": {"pytest"}, "capture": {"opentelemetry"}, "export": {"opentelemetry"}}


def _part(module: str) -> str | None:
    """The folder, or top-level module, a module of the package belongs to; None for the
    package itself (its __version__) and for other libraries."""
    names = module.split(".")
    if names[0] != "pytest_llmobs" or len(names) < 2:
        return None
    part = names[1]
    return part if (PACKAGE / part).is_dir() or (PACKAGE / f"{part}.py").is_file() else None


def _imports(path: Path) -> Iterator[str]:
    """Every module a file imports, at any depth (functions, TYPE_CHECKING blocks), with
    `from pytest_llmobs import x` as pytest_llmobs.x."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            assert node.module is not None
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    """Which parts import which: folders and top-level modules of the package."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        part = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        targets = {_part(m) for m in _imports(path)} - {None, part, "__init__"}
        graph.setdefault(part, set()).update(t for t in targets if t is not None)
    return graph


def test_the_package_is_the_two_faces_on_folders_that_each_have_a_rule() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert (folders, modules) == (set(ALLOWED), TOP)
    assert {p.parent.name for p in PACKAGE.glob("*/ruff.toml")} == set(ALLOWED)


def test_no_import_cycle_between_folders() -> None:
    try:
        list(TopologicalSorter(_graph()).static_order())
    except CycleError as exc:
        pytest.fail(f"folders import each other in a cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_folder_imports_only_what_it_may(folder: str) -> None:
    assert _graph()[folder] <= ALLOWED[folder]


def _bans(folder: Path) -> set[str]:
    """What ruff bans in a folder: its ruff.toml's table, or pyproject.toml's extended."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    inherited = set(root["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"])
    config = tomllib.loads((folder / "ruff.toml").read_text(encoding="utf-8"))
    assert config["extend"] == "../../pyproject.toml"
    tidy = config["lint"]["flake8-tidy-imports"]
    own = set(tidy.get("banned-api", inherited))
    return own | set(tidy.get("extend-banned-api", {}))


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_ruff_toml_bans_every_part_its_folder_may_not_import(folder: str) -> None:
    """A new folder or face is banned where it must be, not allowed by being unnamed."""
    others = (set(ALLOWED) | TOP) - ALLOWED[folder] - {folder}
    assert {f"pytest_llmobs.{part}" for part in others} <= _bans(PACKAGE / folder)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_a_folder_keeps_the_projects_bans_but_its_own_framework(folder: str) -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = set(root["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"])
    assert project - LIFTED.get(folder, set()) <= _bans(PACKAGE / folder)
    assert not LIFTED.get(folder, set()) & _bans(PACKAGE / folder)


def test_no_module_imports_by_a_name_computed_at_run_time() -> None:
    """__import__ and importlib would pass by every import rule unseen."""
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Name) and node.id == "__import__")
        or (isinstance(node, ast.Attribute) and node.attr == "import_module")
    ]
    assert found == []


def test_pytest_and_opentelemetry_are_imported_only_by_the_adapters() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        part = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for module in _imports(path):
            framework = module.split(".")[0]
            if framework in FRAMEWORKS and part not in FRAMEWORKS[framework]:
                found.append(f"{relative}: {module}")
    assert found == []


def _ruff(folder: str, source: str) -> set[str]:
    """The codes ruff finds in source as if it were a module of the folder (so the folder's
    own ruff.toml applies), without writing into the package."""
    probe = f"pytest_llmobs/{folder}/probe.py"
    command = ["ruff", "check", "--no-cache", "--output-format=json", "--stdin-filename", probe]
    proc = subprocess.run(
        [sys.executable, "-m", *command, "-"],
        cwd=ROOT,
        input=f'"""A probe."""\n\n{source}\n\n__all__ = ["probe"]\n',
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: findings; anything else: ruff failed
    return {finding["code"] for finding in json.loads(proc.stdout)}


@pytest.mark.parametrize(
    ("folder", "source"),
    [
        ("gate", "from pytest_llmobs.analysis.findings import Findings as probe"),
        ("gate", "from pytest_llmobs.report import text as probe"),
        ("gate", "from pytest_llmobs.config import settings as probe"),
        ("gate", "import pytest as probe"),
        ("gate", "from opentelemetry import trace as probe"),
        ("analysis", "from pytest_llmobs.report.text import title as probe"),
        ("analysis", "from pytest_llmobs.capture import recorder as probe"),
        ("report", "from pytest_llmobs.run import session as probe"),
        ("report", "from pytest_llmobs.config.settings import Settings as probe"),
        ("report", "import pytest as probe"),
        ("capture", "import pytest as probe"),
        ("capture", "from pytest_llmobs.analysis import trees as probe"),
        ("run", "from opentelemetry import trace as probe"),
        ("run", "from pytest_llmobs import plugin as probe"),
        ("run", "from pytest_llmobs.command import inputs as probe"),
        ("config", "from pytest_llmobs.report import text as probe"),
        ("config", "import pytest as probe"),
        ("command", "from pytest_llmobs.run import session as probe"),
        ("command", "from opentelemetry import trace as probe"),
        ("export", "import pytest as probe"),
        ("export", "from pytest_llmobs.capture import recorder as probe"),
        ("export", "from pytest_llmobs.config.settings import Settings as probe"),
        ("report", "from pytest_llmobs.export import bounded as probe"),
    ],
)
def test_a_folder_rule_fails_a_violating_import(folder: str, source: str) -> None:
    assert "TID251" in _ruff(folder, source)


@pytest.mark.parametrize(
    ("folder", "source"),
    [
        ("gate", "from pytest_llmobs import __version__ as probe"),
        ("analysis", "from pytest_llmobs.gate import units as probe"),
        ("report", "from pytest_llmobs.analysis import findings as probe"),
        ("capture", "from opentelemetry import trace as probe"),
        ("run", "from pytest import Config as probe"),
        ("run", "from pytest_llmobs.config.settings import Settings as probe"),
        ("config", "from pytest_llmobs.gate import rules as probe"),
        ("command", "from pytest_llmobs.config.settings import Settings as probe"),
        ("command", "from pytest_llmobs.export import bounded as probe"),
        ("export", "from opentelemetry import trace as probe"),
        ("export", "from pytest_llmobs.report.result import RunResult as probe"),
    ],
)
def test_a_folder_rule_lets_an_allowed_import_pass(folder: str, source: str) -> None:
    assert "TID251" not in _ruff(folder, source)

"""The import direction of ../shared/STYLE.md: cli -> flows -> (stages | io) -> (schemas | rules | settings)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> prefixes it must never import
FORBIDDEN = {
    "pipelines/stages": ("prefect", "duckdb", "pipelines.io", "pipelines.flows", "pipelines.cli"),
    "pipelines/io": ("prefect", "pipelines.stages", "pipelines.flows", "pipelines.cli"),
    "pipelines/rules": ("prefect", "pipelines.io", "pipelines.stages", "pipelines.flows"),
    "schemas": ("prefect", "pipelines.io", "pipelines.stages", "pipelines.flows", "pipelines.cli"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules():
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            yield pytest.param(path, forbidden, id=str(path.relative_to(ROOT)))


@pytest.mark.parametrize(("path", "forbidden"), list(_modules()))
def test_imports_run_downwards(path: Path, forbidden: tuple[str, ...]) -> None:
    bad = [name for name in _imports(path) if name.startswith(forbidden)]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", sorted((ROOT / "pipelines/stages").rglob("*.py")), ids=str)
def test_stages_open_no_files(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    calls = [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
    assert "open" not in calls, f"{path.name} opens a file: stages are pure transforms"


def test_layering_catches_a_violation(tmp_path: Path) -> None:
    """The check itself can fail: a stage importing prefect is reported."""
    bad = tmp_path / "bad_stage.py"
    bad.write_text("from prefect import task\nimport polars\n", "utf-8")
    assert [n for n in _imports(bad) if n.startswith(FORBIDDEN["pipelines/stages"])] == ["prefect"]

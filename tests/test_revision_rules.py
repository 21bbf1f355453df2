"""Rules every revision file follows (STYLE.md): readable ids in order, no ORM classes, a docstring."""

import ast
import importlib.util
import itertools
from pathlib import Path

import pytest
from sqlalchemy.orm import DeclarativeBase

from tests.conftest import ROOT

VERSIONS = sorted((ROOT / "alembic" / "versions").glob("*.py"))
FORBIDDEN = {"taptik_models.models", "taptik_models.packages", "taptik_models.teams", "taptik_models.analytics",
             "taptik_models.versions", "taptik_models.base", "taptik_models.policies", "storage_tasks"}  # fmt: skip


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"rev_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: p.stem)
def test_revision_imports_no_orm_model_and_no_cli(path):
    tree = ast.parse(path.read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in imported if m and any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
    module = _load(path)
    assert not [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, DeclarativeBase)]


@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: p.stem)
def test_revision_is_numbered_and_explains_its_downgrade(path):
    module = _load(path)
    assert path.name.startswith(f"{module.revision}_")
    assert module.revision.isdigit() and len(module.revision) == 4
    assert "Downgrade preserves:" in (module.__doc__ or "")


def test_revisions_form_one_numbered_chain():
    modules = [_load(p) for p in VERSIONS]
    for previous, current in itertools.pairwise(modules):
        assert current.down_revision == previous.revision

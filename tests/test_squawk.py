"""CI lints the SQL each revision renders with squawk; a rule is silenced only beside its reason."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_alembic
from tests.test_revision_rules import VERSIONS

SQUAWK = Path(sys.executable).with_name("squawk")  # squawk-cli, a dev dependency
REVISIONS = [p.name.split("_", 1)[0] for p in VERSIONS]


def _squawk(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SQUAWK), "--pg-version=15.0", str(path)], capture_output=True, text=True, env={"NO_COLOR": "1"}
    )


def test_squawk_catches_an_unsafe_statement(tmp_path):
    unsafe = tmp_path / "unsafe.sql"
    unsafe.write_text("CREATE INDEX ix_a ON public.t (a);\n")
    assert _squawk(unsafe).returncode != 0


@pytest.mark.parametrize("revision", REVISIONS)
def test_rendered_revision_passes_squawk(revision, tmp_path):
    index = REVISIONS.index(revision)
    start = REVISIONS[index - 1] if index else "base"
    rendered = run_alembic("upgrade", f"{start}:{revision}", "--sql")
    assert rendered.returncode == 0, rendered.stderr
    sql = tmp_path / f"{revision}.sql"
    sql.write_text(rendered.stdout)
    result = _squawk(sql)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in rendered.stdout.splitlines():
        if "squawk-ignore" in line:  # every silenced rule has its reason on the line above
            above = rendered.stdout.splitlines()[rendered.stdout.splitlines().index(line) - 1]
            assert above.startswith("-- ") and "squawk" not in above

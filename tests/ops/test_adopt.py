"""`taptik-db adopt` on databases built by the legacy hand-written SQL (our reconstruction in legacy_sql/)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from storage_tasks.adopt import LEGACY_VERSIONS, adopt
from tests.conftest import HEAD, run_alembic, run_cli
from tests.helpers import add_user
from tests.ops.helpers import cli_json, rows_digest, version

LEGACY_SQL = Path(__file__).with_name("legacy_sql")


def _legacy_database(engine: sa.Engine, up_to: int) -> list[str]:
    """Run legacy migrations 1..up_to with data after each; returns the tables holding data."""
    tables = ["schema_migrations", "taptik_packages"]
    for number in range(1, up_to + 1):
        with engine.begin() as conn:
            conn.exec_driver_sql((LEGACY_SQL / f"v{number}.sql").read_text())
            user = add_user(conn)
            conn.execute(
                sa.text(
                    "INSERT INTO taptik_packages (config_id, user_id, name, platform, metadata, checksum, storage_url) "
                    "SELECT 'c' || g, :u, 'p' || g, 'cursor', jsonb_build_object('title', 'T' || g, 'tags', "
                    "jsonb_build_array('a')), md5(g::text), :u || '/' || g || '.taptik' FROM generate_series(1, 5) g"
                ),
                {"u": user},
            )
            if number >= 2:
                team = conn.execute(sa.text("INSERT INTO teams (name) VALUES ('t') RETURNING id")).scalar()
                conn.execute(
                    sa.text("INSERT INTO team_members (team_id, user_id) VALUES (:t, :u)"), {"t": team, "u": user}
                )
    return tables + (["teams", "team_members"] if up_to >= 2 else [])


@pytest.mark.parametrize("legacy_version", [1, 2, 3])
def test_adopt_stamps_the_revision_a_legacy_database_matches(engine, db_url, legacy_version):
    tables = _legacy_database(engine, legacy_version)
    before = rows_digest(engine, *tables)
    report = adopt(db_url)
    assert report.ok and report.stamped and report.warnings == []
    assert report.legacy_version == legacy_version
    assert report.matched == LEGACY_VERSIONS[legacy_version] == version(engine)
    assert rows_digest(engine, *tables) == before  # no data changed
    upgraded = run_alembic("upgrade", "head", database_url=db_url)  # the chain continues from there
    assert upgraded.returncode == 0, upgraded.stderr
    assert version(engine) == HEAD


def test_adopt_refuses_a_drifted_schema_and_prints_the_difference(engine, db_url):
    tables = _legacy_database(engine, 3)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE taptik_packages ADD COLUMN hand_added text DEFAULT 'x'"))
    before = rows_digest(engine, *tables)
    code, report, _ = cli_json("adopt", "--database-url", db_url)
    assert code == 1 and not report["ok"] and not report["stamped"]
    assert report["closest"] == "0003"
    assert report["differences"] == ["extra column taptik_packages.hand_added: text null default 'x'::text"]
    human = run_cli("adopt", "--database-url", db_url)
    assert human.returncode == 1
    assert "closest is 0003" in human.stdout and "extra column taptik_packages.hand_added" in human.stdout
    assert version(engine) is None
    assert rows_digest(engine, *tables) == before


def test_adopt_dry_run_stamps_nothing(engine, db_url):
    _legacy_database(engine, 2)
    code, report, _ = cli_json("adopt", "--database-url", db_url, "--dry-run")
    assert code == 0 and report["matched"] == "0002" and not report["stamped"]
    assert version(engine) is None


def test_adopt_refuses_a_database_already_under_alembic(db_url):
    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    done = run_cli("adopt", "--database-url", db_url)
    assert done.returncode == 1
    assert "already has alembic_version" in done.stderr and "Traceback" not in done.stderr

"""`alembic upgrade head --sql` renders the chain as reviewable SQL, without touching a database."""

import subprocess

from sqlalchemy.engine import make_url

from storage_tasks.local_db import pg_binary
from tests.conftest import HEAD, run_alembic


def test_offline_upgrade_renders_sql_without_a_database(tmp_path):
    result = run_alembic("upgrade", "head", "--sql", extra_env={"TAPTIK_HOME": str(tmp_path / "none")})
    assert result.returncode == 0, result.stderr
    sql = result.stdout
    assert "CREATE TABLE IF NOT EXISTS taptik_packages" in sql
    assert 'CREATE POLICY "Users can view public packages"' in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert not (tmp_path / "none").exists(), "offline mode must not start the embedded database"


def test_offline_downgrade_renders_archive_move():
    result = run_alembic("downgrade", "0001:base", "--sql")
    assert result.returncode == 0, result.stderr
    assert "SET SCHEMA taptik_archive" in result.stdout


def test_offline_sql_of_the_whole_chain_applies_to_a_fresh_database(db_url, tmp_path):
    """The rendered SQL, data steps included, is what a reviewer can run by hand: it reaches head."""
    result = run_alembic("upgrade", "head", "--sql")
    assert result.returncode == 0, result.stderr
    sql = result.stdout
    for expected in [
        "INSERT INTO public.package_analytics",  # the events backfill, as one set-based statement
        "INSERT INTO public.package_versions",
        "taptik_archive.pre_images",  # pre-images saved by the backfills
        "INSERT INTO public.taptik_packages_quarantine",
        "VALIDATE CONSTRAINT",
    ]:
        assert expected in sql
    script = tmp_path / "upgrade.sql"
    script.write_text(sql)
    libpq_url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    applied = subprocess.run(
        [str(pg_binary("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script), libpq_url],
        capture_output=True,
        text=True,
    )  # as a reviewer would apply it, statement by statement
    assert applied.returncode == 0, applied.stderr
    check = run_alembic("check", database_url=db_url)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    current = run_alembic("current", database_url=db_url)
    assert f"{HEAD} (head)" in current.stdout


def test_offline_downgrade_of_the_whole_chain_renders():
    result = run_alembic("downgrade", f"{HEAD}:base", "--sql")
    assert result.returncode == 0, result.stderr
    assert "SET SCHEMA taptik_archive" in result.stdout

"""`alembic upgrade head --sql` renders the chain as reviewable SQL, without touching a database."""

from tests.conftest import run_alembic


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

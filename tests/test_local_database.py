"""The embedded PostgreSQL: what a new user gets with no DATABASE_URL at all."""

import json

import pytest
import sqlalchemy as sa

from storage_tasks.local_db import LocalDatabase
from tests.conftest import run_alembic, run_cli


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "state"
    yield home
    LocalDatabase(home).stop()


def test_alembic_upgrade_without_database_url_starts_embedded_database(home):
    env = {"TAPTIK_HOME": str(home)}
    result = run_alembic("upgrade", "head", extra_env=env)
    assert result.returncode == 0, result.stderr
    local = LocalDatabase(home)
    password = local.url().password
    assert f"started embedded PostgreSQL in {home / 'pgdata'}" in result.stderr
    assert "postgres:***@127.0.0.1" in result.stderr
    assert password not in result.stdout + result.stderr
    # Left running: the next command finds it and the chain is at head.
    again = run_alembic("current", extra_env=env)
    assert again.returncode == 0 and "(head)" in again.stdout
    assert "using embedded PostgreSQL" in again.stderr
    engine = sa.create_engine(local.url(), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM taptik_packages")).scalar() == 0
        assert conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar() is False
    engine.dispose()


def test_downgrade_and_upgrade_work_on_embedded_database(home):
    env = {"TAPTIK_HOME": str(home)}
    assert run_alembic("upgrade", "head", extra_env=env).returncode == 0
    down = run_alembic("downgrade", "-1", extra_env=env)
    assert down.returncode == 0, down.stderr
    up = run_alembic("upgrade", "head", extra_env=env)
    assert up.returncode == 0, up.stderr
    assert "(head)" in run_alembic("current", extra_env=env).stdout


def test_cli_local_start_status_url_stop(home):
    env = {"TAPTIK_HOME": str(home)}
    started = run_cli("local", "start", extra_env=env)
    assert started.returncode == 0, started.stderr
    status = json.loads(run_cli("local", "status", "--json", extra_env=env).stdout)
    assert status["running"] is True and status["initialized"] is True
    assert status["postgres_major_version"].isdigit()
    hidden = run_cli("local", "url", extra_env=env).stdout.strip()
    shown = run_cli("local", "url", "--show-password", "--libpq", extra_env=env).stdout.strip()
    password = LocalDatabase(home).url().password
    assert ":***@" in hidden and password not in hidden
    assert shown.startswith("postgresql://postgres:") and password in shown
    assert run_cli("local", "stop", extra_env=env).stdout.strip() == "stopped"
    assert json.loads(run_cli("local", "status", "--json", extra_env=env).stdout)["running"] is False
    assert run_cli("local", "stop", extra_env=env).stdout.strip() == "not running"


def test_start_is_idempotent_and_restarts_with_the_same_data(home):
    local = LocalDatabase(home)
    local.start()
    engine = sa.create_engine(local.url(), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE kept (x int)"))
        conn.execute(sa.text("INSERT INTO kept VALUES (42)"))
    local.start()
    local.stop()
    local.start()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT x FROM kept")).scalar() == 42
    engine.dispose()


def test_install_env_refuses_a_database_that_has_it(db_url):
    result = run_cli("local", "install-env", "--database-url", db_url)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "already has the Supabase environment" in result.stderr

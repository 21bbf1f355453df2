"""env.py refuses what it cannot migrate: one clear line, non-zero exit, no traceback, no password."""

import socket

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import run_alembic


def _assert_one_line_failure(result, *, contains: str, secret: str | None = None):
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    # Alembic reports a CommandError as one ERROR line on stderr (and FAILED: on stdout).
    failures = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(failures) == 1, result.stderr
    assert failures[0].startswith("ERROR [alembic.util.messaging] ")
    assert contains in failures[0]
    if secret:
        assert secret not in output


@pytest.fixture
def bare_db_url(pg_server, postgresql):
    """A database on the same server without the Supabase environment."""
    postgresql.commit()
    postgresql.autocommit = True
    with postgresql.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS taptik_bare")
        cur.execute("CREATE DATABASE taptik_bare TEMPLATE template0")
    yield pg_server.admin_url("taptik_bare")
    with postgresql.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS taptik_bare WITH (FORCE)")


def test_database_without_supabase_environment_is_refused_and_untouched(bare_db_url):
    result = run_alembic("upgrade", "head", database_url=bare_db_url)
    _assert_one_line_failure(result, contains="lacks the Supabase environment", secret=make_url(bare_db_url).password)
    assert "auth.users" in result.stderr and "taptik-db local install-env" in result.stderr
    engine = sa.create_engine(bare_db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        created = conn.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        ).scalar()
        schemas = set(conn.execute(sa.text("SELECT nspname FROM pg_namespace")).scalars())
    engine.dispose()
    assert created == 0
    assert "auth" not in schemas


def test_unreachable_database_url_fails_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        result = run_alembic(
            "upgrade", "head", database_url=f"postgresql://postgres:s3cret-pw@127.0.0.1:{port}/postgres"
        )
    _assert_one_line_failure(
        result, contains="cannot connect to postgresql+psycopg://postgres:***@127.0.0.1", secret="s3cret-pw"
    )


def test_wrong_password_fails_in_one_line_without_the_password(db_url):
    wrong = make_url(db_url).set(password="not-the-password-42")
    result = run_alembic("upgrade", "head", database_url=wrong.render_as_string(hide_password=False))
    _assert_one_line_failure(result, contains="password authentication failed", secret="not-the-password-42")


def test_supabase_style_postgres_scheme_is_accepted(db_url):
    raw = make_url(db_url).set(drivername="postgres").render_as_string(hide_password=False)
    result = run_alembic("upgrade", "head", database_url=raw)
    assert result.returncode == 0, result.stderr
    assert "Running upgrade  -> 0001" in result.stderr


def test_non_postgres_url_is_refused():
    result = run_alembic("upgrade", "head", database_url="mysql://root:pw-xyz@localhost/db")
    _assert_one_line_failure(result, contains="must start with postgres://", secret="pw-xyz")


def test_x_db_url_overrides_database_url(db_url):
    result = run_alembic(
        "-x", f"db_url={db_url}", "upgrade", "head", database_url="postgresql://nobody:pw@127.0.0.1:1/none"
    )
    assert result.returncode == 0, result.stderr


def test_unknown_x_option_is_refused(db_url):
    result = run_alembic("-x", "lock_timout=5s", "upgrade", "head", database_url=db_url)
    _assert_one_line_failure(result, contains="unknown -x option(s): lock_timout")

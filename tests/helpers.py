"""Small helpers tests share: building users and packages with SQL, acting as an API role."""

from __future__ import annotations

import contextlib
import json
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def add_user(conn: Connection, user_id: uuid.UUID | None = None) -> uuid.UUID:
    user_id = user_id or uuid.uuid4()
    conn.execute(
        sa.text("INSERT INTO auth.users (id, email) VALUES (:id, :email)"),
        {"id": user_id, "email": f"{user_id}@example.test"},
    )
    return user_id


def act_as(conn: Connection, role: str, user_id: uuid.UUID | None = None) -> None:
    """Switch this transaction to an API role with a JWT, as PostgREST does."""
    conn.execute(sa.text(f"SET LOCAL ROLE {role}"))
    claims = {"role": role} | ({"sub": str(user_id)} if user_id else {})
    conn.execute(sa.text("SELECT set_config('request.jwt.claims', :c, true)"), {"c": json.dumps(claims)})


def seed_packages(engine, count: int, downloads: int) -> None:
    with engine.begin() as conn:
        user = conn.execute(sa.text("INSERT INTO auth.users (id) VALUES (gen_random_uuid()) RETURNING id")).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO taptik_packages (config_id, user_id, name, checksum, storage_url, download_count) "
                "SELECT 'c' || g, :u, 'p' || g, md5(g::text), 'k/' || g, :d FROM generate_series(1, :n) g"
            ),
            {"u": user, "d": downloads, "n": count},
        )


def rows_done_in_flight(conn, revision: str) -> int | None:
    if conn.execute(sa.text("SELECT to_regclass('taptik_archive.taptik_migration_progress')")).scalar() is None:
        return None
    return conn.execute(
        sa.text(
            "SELECT rows_done FROM taptik_archive.taptik_migration_progress WHERE revision = :r AND finished_at IS NULL"
        ),
        {"r": revision},
    ).scalar()


LIKES_INDEX_STATE = (
    "SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = 'ix_taptik_packages_likes'::regclass"
)


def make_invalid_likes_index(engine, db_url: str) -> None:
    """At 0003, a failed CREATE UNIQUE INDEX CONCURRENTLY over duplicate likes leaves an INVALID index."""
    from tests.conftest import run_alembic

    assert run_alembic("upgrade", "0001", database_url=db_url).returncode == 0
    seed_packages(engine, count=3, downloads=0)
    assert run_alembic("upgrade", "0003", database_url=db_url).returncode == 0
    with engine.connect() as conn:
        conn.connection.dbapi_connection.autocommit = True
        conn.exec_driver_sql("UPDATE taptik_packages SET likes = 1")
        conn.exec_driver_sql("DROP INDEX ix_taptik_packages_likes")
        with contextlib.suppress(sa.exc.IntegrityError):
            conn.exec_driver_sql(
                "CREATE UNIQUE INDEX CONCURRENTLY ix_taptik_packages_likes ON taptik_packages (likes) WHERE likes > 0"
            )
        assert conn.exec_driver_sql(LIKES_INDEX_STATE).one() == (False, True)

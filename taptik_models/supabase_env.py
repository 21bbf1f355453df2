"""The Supabase environment every revision assumes: check for it, or install the local copy.

`missing()` is what env.py asks of every database before migrating. `apply()` installs
`supabase_env.sql` (a superuser's job) and is only ever used on the embedded local
database and on test databases; a real Supabase project already has all of it.
"""

from __future__ import annotations

from importlib.resources import files

from sqlalchemy import text
from sqlalchemy.engine import Connection

from taptik_models.errors import MissingSupabaseEnvironment

REQUIRED_ROLES = ("anon", "authenticated", "service_role")

_PROBE = text(
    """
    SELECT
      ARRAY(SELECT r FROM unnest(CAST(:roles AS text[])) AS r
            WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r)) AS missing_roles,
      to_regclass('auth.users') IS NOT NULL AS has_users,
      to_regprocedure('auth.uid()') IS NOT NULL AS has_uid
    """
)


def sql_text() -> str:
    """The environment script, as shipped with the package."""
    return files("taptik_models").joinpath("supabase_env.sql").read_text(encoding="utf-8")


def missing(connection: Connection) -> list[str]:
    """What of the Supabase environment this database lacks (empty when complete)."""
    row = connection.execute(_PROBE, {"roles": list(REQUIRED_ROLES)}).one()
    gaps = [f"role {name}" for name in row.missing_roles]
    if not row.has_users:
        gaps.append("table auth.users")
    if not row.has_uid:
        gaps.append("function auth.uid()")
    return gaps


def require(connection: Connection, where: str) -> None:
    """Raise MissingSupabaseEnvironment, naming what is absent and how to get it."""
    gaps = missing(connection)
    if gaps:
        raise MissingSupabaseEnvironment(
            f"{where} lacks the Supabase environment (missing: {', '.join(gaps)}). "
            "Point DATABASE_URL at a Supabase project, unset it to use the embedded local "
            "database, or install the local copy as a superuser with "
            "`taptik-db local install-env --database-url URL`."
        )


def apply(dbapi_connection) -> None:
    """Run the environment script on a raw DB-API (psycopg) connection, as a superuser."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(sql_text())
    dbapi_connection.commit()


def load_into(**connect_kwargs) -> None:
    """pytest-postgresql loader: install the environment into its template database."""
    import psycopg

    with psycopg.connect(**connect_kwargs) as conn:
        apply(conn)

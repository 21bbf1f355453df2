"""What the ops tests share: running `taptik-db` with --json, fingerprints of the data."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.conftest import run_cli


def cli_json(*args: str, extra_env: dict | None = None) -> tuple[int, dict, str]:
    """Run `taptik-db ... --json`; returns the exit code, the parsed report and stderr."""
    done = run_cli(*args, "--json", extra_env=extra_env)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON on stdout (exit {done.returncode}): {done.stdout!r} {done.stderr!r}") from None
    return done.returncode, report, done.stderr


def version(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def rows_digest(engine: sa.Engine, *tables: str) -> dict[str, str]:
    """md5 of every row of each table, in key order: equal digests mean identical data."""
    with engine.connect() as conn:
        return {
            t: conn.execute(
                sa.text(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x")
            ).scalar()
            for t in tables
        }

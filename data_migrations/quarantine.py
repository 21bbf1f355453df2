"""Quarantine: rows that cannot meet a new constraint are moved aside with a reason, never deleted.

Moving a package out of `taptik_packages` would cascade-delete its versions and events;
those are copied into `taptik_archive.<table>_quarantined_<revision>` first and come back
with the package when the quarantine is released (on downgrade).
One statement moves every failing row: it scans the table once and writes only the
failing rows, which are expected to be few.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import text

from data_migrations import runtime
from data_migrations.archive import ARCHIVE_SCHEMA
from data_migrations.sql import ident, literal, qualified

log = logging.getLogger("alembic.taptik")


def _dependent_copy(dependent: str, revision: str) -> str:
    return qualified(ARCHIVE_SCHEMA, f"{dependent}_quarantined_{revision}")


def quarantine_sql(
    revision: str,
    table: str,
    quarantine: str,
    columns: list[str],
    required: list[str],
    dependents: dict[str, str],
) -> list:
    """Statements moving rows with a NULL in any `required` column into `quarantine`."""
    cols = ", ".join(ident(c) for c in columns)
    missing = " OR ".join(f"t.{ident(c)} IS NULL" for c in required)
    reason = (
        "'missing required field(s): ' || concat_ws(', ', "
        + ", ".join(f"CASE WHEN m.{ident(c)} IS NULL THEN {literal(c)} END" for c in required)
        + ")"
    )
    # A row quarantined before (kept by the downgrade) keeps its first quarantined_at.
    refresh = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in [*columns[1:], "reason"])
    statements = [text(f"CREATE SCHEMA IF NOT EXISTS {ident(ARCHIVE_SCHEMA)}")]
    copies = []
    for dependent, fk in dependents.items():
        target = _dependent_copy(dependent, revision)
        statements.append(
            text(f"CREATE TABLE IF NOT EXISTS {target} (LIKE {qualified('public', dependent)} INCLUDING DEFAULTS)")
        )
        copies.append(
            f"{ident('copy_' + dependent)} AS (INSERT INTO {target} SELECT d.* FROM {qualified('public', dependent)} d "
            f"JOIN doomed ON d.{ident(fk)} = doomed.id RETURNING 1)"
        )
    ctes = ",\n".join(
        [
            f"doomed AS (SELECT t.id FROM {qualified('public', table)} t WHERE {missing})",
            *copies,
            f"moved AS (DELETE FROM {qualified('public', table)} t USING doomed WHERE t.id = doomed.id RETURNING t.*)",
            f"kept AS (INSERT INTO {qualified('public', quarantine)} ({cols}, reason, quarantined_at) "
            f"SELECT {', '.join('m.' + ident(c) for c in columns)}, {reason}, now() FROM moved m "
            f"ON CONFLICT (id) DO UPDATE SET {refresh} RETURNING 1)",
        ]
    )
    statements.append(text(f"WITH {ctes}\nSELECT count(*) FROM kept"))
    # Rows the downgrade's copy kept that meet the constraints now are no longer quarantined.
    statements.append(
        text(f"DELETE FROM {qualified('public', quarantine)} q USING {qualified('public', table)} t WHERE q.id = t.id")
    )
    return statements


def quarantine_rows(
    revision: str,
    table: str,
    quarantine: str,
    columns: list[str],
    required: list[str],
    dependents: dict[str, str],
) -> int | None:
    """Move failing rows (and copies of their dependents) aside; returns how many (None offline)."""
    *setup, move, cleanup = quarantine_sql(revision, table, quarantine, columns, required, dependents)
    for statement in setup:
        op.execute(statement)
    if runtime.offline():
        op.execute(move)
        op.execute(cleanup)
        return None
    count = op.get_bind().execute(move).scalar_one()
    op.execute(cleanup)
    log.info(
        "%s: moved %d row(s) of %s that lack %s into %s",
        revision,
        count,
        table,
        "/".join(required),
        quarantine,
    )
    return count


def release_quarantine(revision: str, table: str, quarantine: str, columns: list[str], dependents: dict[str, str]):
    """Copy every quarantined row back, then its dependents (the downgrade).

    The quarantine table keeps its rows (the revision then archives it), so upgrading again
    finds each still-failing row's original reason and quarantined_at.
    """
    cols = ", ".join(ident(c) for c in columns)
    op.execute(
        text(
            f"INSERT INTO {qualified('public', table)} ({cols}) "
            f"SELECT {cols} FROM {qualified('public', quarantine)} ON CONFLICT (id) DO NOTHING"
        )
    )
    for dependent in dependents:
        source = _dependent_copy(dependent, revision)
        op.execute(
            text(
                f"""DO $r$
BEGIN
  IF to_regclass({literal(source)}) IS NOT NULL THEN
    INSERT INTO {qualified("public", dependent)} SELECT * FROM {source};
    DROP TABLE {source};
  END IF;
END
$r$"""
            )
        )

"""Archiving instead of dropping (DESIGN.md rule 1).

A downgrade that removes a table moves it into schema `taptik_archive`; one that removes
columns copies them there (keyed by primary key) before dropping them. The next upgrade
of that revision takes the data back. Everything renders as guarded SQL (DO blocks), so
it behaves the same online and in `alembic upgrade --sql`.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from data_migrations import batches, runtime
from data_migrations.ddl import drop_column
from data_migrations.sql import ident, literal, qualified

ARCHIVE_SCHEMA = "taptik_archive"


def _refuse_if_archived(target: str, what: str) -> str:
    return f"""  IF to_regclass({literal(target)}) IS NOT NULL THEN
    RAISE EXCEPTION 'cannot archive %: % already exists; move or rename it first',
      {literal(what)}, {literal(target)};
  END IF;"""


def archive_table_sql(table: str, schema: str = "public") -> list:
    """Statements moving `schema.table` into the archive; refuse to overwrite an archived copy."""
    return [
        text(f"CREATE SCHEMA IF NOT EXISTS {ident(ARCHIVE_SCHEMA)}"),
        text(
            f"""DO $archive$
BEGIN
{_refuse_if_archived(qualified(ARCHIVE_SCHEMA, table), f"{schema}.{table}")}
  ALTER TABLE {qualified(schema, table)} SET SCHEMA {ident(ARCHIVE_SCHEMA)};
END
$archive$"""
        ),
    ]


def restore_archived_table_sql(table: str, schema: str = "public") -> list:
    """Statements moving an archived table back, when the archive holds one."""
    return [
        text(
            f"""DO $restore$
BEGIN
  IF to_regclass({literal(qualified(ARCHIVE_SCHEMA, table))}) IS NOT NULL THEN
    ALTER TABLE {qualified(ARCHIVE_SCHEMA, table)} SET SCHEMA {ident(schema)};
  END IF;
END
$restore$"""
        )
    ]


def archive_table(table: str, schema: str = "public") -> None:
    """In a revision's downgrade: move the table into `taptik_archive` instead of dropping it."""
    for statement in archive_table_sql(table, schema):
        op.execute(statement)


def restore_archived_table(table: str, schema: str = "public") -> bool | None:
    """In a revision's upgrade, before creating the table: take an archived copy back.

    Returns whether a copy was restored (None offline, where the SQL decides at run time):
    a restored table needs no backfill.
    """
    found = None if runtime.offline() else has_archived_table(table)
    for statement in restore_archived_table_sql(table, schema):
        op.execute(statement)
    return found


def has_archived_table(table: str) -> bool:
    """Online only: is there an archived copy to restore (instead of backfilling)?"""
    return (
        op.get_bind().execute(text("SELECT to_regclass(:t)"), {"t": qualified(ARCHIVE_SCHEMA, table)}).scalar()
        is not None
    )


def column_archive_name(table: str, revision: str) -> str:
    return f"{table}_columns_{revision}"


def archive_columns(revision: str, table: str, columns: list[str], key: str = "id") -> None:
    """Copy `columns` (with the key) into `taptik_archive.<table>_columns_<revision>`, then drop them."""
    target = qualified(ARCHIVE_SCHEMA, column_archive_name(table, revision))
    cols = ", ".join(ident(c) for c in [key, *columns])
    op.execute(text(f"CREATE SCHEMA IF NOT EXISTS {ident(ARCHIVE_SCHEMA)}"))
    op.execute(
        text(
            f"""DO $archive$
BEGIN
{_refuse_if_archived(target, f"columns of {table}")}
  CREATE TABLE {target} AS SELECT {cols} FROM {qualified("public", table)};
  ALTER TABLE {target} ADD PRIMARY KEY ({ident(key)});
END
$archive$"""
        )
    )
    for column in columns:
        drop_column(table, column)


def restore_archived_columns(revision: str, table: str, columns: list[str], key: str = "id") -> None:
    """Write archived column values back (rows still present), then drop the archive table.

    Call after the columns have been added back and before any backfill, so archived
    values win over recomputed ones. Online it runs in keyset batches over the archive
    (short row locks on a busy table); offline it renders as one guarded statement.
    """
    name = column_archive_name(table, revision)
    source = qualified(ARCHIVE_SCHEMA, name)
    assignments = ", ".join(f"{ident(c)} = a.{ident(c)}" for c in columns)
    update = f"UPDATE {qualified('public', table)} t SET {assignments} FROM {source} a"
    if runtime.offline():
        op.execute(
            text(
                f"""DO $restore$
BEGIN
  IF to_regclass({literal(source)}) IS NOT NULL THEN
    {update} WHERE t.{ident(key)} = a.{ident(key)};
    DROP TABLE {source};
  END IF;
END
$restore$"""
            )
        )
        return
    if not has_archived_table(name):
        return
    batches.run(
        batches.BatchStep(
            revision=revision,
            name=f"restore archived columns of {table}",
            source=source,
            key=key,
            ctes=f"affected AS ({update} WHERE IN_BATCH(a.{ident(key)}) AND IN_BATCH(t.{ident(key)}) "
            f"AND t.{ident(key)} = a.{ident(key)} RETURNING 1)",
        )
    )
    op.execute(text(f"DROP TABLE IF EXISTS {source}"))

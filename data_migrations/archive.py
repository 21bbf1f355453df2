"""Archiving instead of dropping (DESIGN.md rule 1).

A downgrade that removes a table moves it into schema `taptik_archive`; the next
upgrade of that revision moves it back. Both are rendered as guarded SQL (DO
blocks) so they work the same online and in `alembic upgrade --sql`.
"""

from __future__ import annotations

from sqlalchemy import text

from alembic import op
from data_migrations.sql import ident, literal, qualified

ARCHIVE_SCHEMA = "taptik_archive"


def archive_table_sql(table: str, schema: str = "public") -> list:
    """Statements moving `schema.table` into the archive; refuse to overwrite an archived copy."""
    target = f"{ARCHIVE_SCHEMA}.{table}"
    return [
        text(f"CREATE SCHEMA IF NOT EXISTS {ident(ARCHIVE_SCHEMA)}"),
        text(
            f"""DO $archive$
BEGIN
  IF to_regclass({literal(qualified(ARCHIVE_SCHEMA, table))}) IS NOT NULL THEN
    RAISE EXCEPTION 'cannot archive %: % already exists; move or rename it first',
      {literal(f"{schema}.{table}")}, {literal(target)};
  END IF;
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


def restore_archived_table(table: str, schema: str = "public") -> None:
    """In a revision's upgrade, before creating the table: take an archived copy back."""
    for statement in restore_archived_table_sql(table, schema):
        op.execute(statement)

"""Pre-images: the values an upgrade rewrites, saved first so the downgrade restores them exactly.

`rewrite_in_batches` computes new values for some columns, and in the same statement as
the update saves each changed row's `before` and `after` (as jsonb, which round-trips
text, arrays, numbers and timestamps exactly) into `taptik_archive.pre_images`.
`restore_pre_images` puts `before` back, column by column, only where the row still
holds `after`: a value the application changed since the upgrade is newer than both
and is kept.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import text

from data_migrations import batches
from data_migrations.sql import ident, literal, qualified

log = logging.getLogger("alembic.taptik")

PRE_IMAGES = qualified(batches.ARCHIVE_SCHEMA, "pre_images")


def ensure_pre_image_table() -> None:
    batches.ensure_progress_table()  # creates the schema too
    op.execute(
        text(
            f"""CREATE TABLE IF NOT EXISTS {PRE_IMAGES} (
  revision text NOT NULL,
  table_name text NOT NULL,
  pk uuid NOT NULL,
  before jsonb NOT NULL,
  after jsonb NOT NULL,
  saved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (revision, table_name, pk)
)"""
        )
    )


def _json_of(alias: str, columns: list[str]) -> str:
    return "jsonb_build_object(" + ", ".join(f"{literal(c)}, {alias}.{ident(c)}" for c in columns) + ")"


def _new(column: str) -> str:
    return ident(f"new__{column}")


def _row(alias: str, columns: list[str], new: bool = False) -> str:
    """ROW(...) of the old (or computed new) values: compared with IS DISTINCT FROM, no jsonb per row."""
    return "ROW(" + ", ".join(f"{alias}.{_new(c) if new else ident(c)}" for c in columns) + ")"


def _pairs(alias: str, columns: list[str], new: bool = False) -> str:
    return (
        "jsonb_build_object("
        + ", ".join(f"{literal(c)}, {alias}.{_new(c) if new else ident(c)}" for c in columns)
        + ")"
    )


def rewrite_step(
    revision: str,
    name: str,
    table: str,
    assignments: dict[str, str],
    *,
    where: str = "TRUE",
    preserve: list[str] | None = None,
) -> batches.BatchStep:
    """A batch step setting `column = expression` (expressions over alias `t`) on rows matching `where`.

    Pre-images are kept for the `preserve` columns (default: all assigned). Columns the
    revision adds and its downgrade archives need none. Only the rows whose preserved
    values change pay for a jsonb pre-image.
    """
    qtable = qualified("public", table)
    kept = preserve if preserve is not None else list(assignments)

    def row(exprs) -> str:
        return "ROW(" + ", ".join(exprs) + ")"

    def pairs(exprs: dict[str, str]) -> str:
        return "jsonb_build_object(" + ", ".join(f"{literal(c)}, {e}" for c, e in exprs.items()) + ")"

    old = {c: f"t.{ident(c)}" for c in assignments}
    # The UPDATE sets the expressions themselves, not values computed earlier in the
    # statement: when a row changes under a concurrent transaction, PostgreSQL re-evaluates
    # them on the new row version, so a value the application just wrote is never
    # overwritten with one computed from the old version (a lost update).
    # `saved` reads the statement's snapshot: every row as it was before `affected`.
    ctes = f"""saved AS (
  INSERT INTO {PRE_IMAGES} (revision, table_name, pk, before, after)
  SELECT {literal(revision)}, {literal(table)}, t.id,
         {pairs({c: old[c] for c in kept})}, {pairs({c: assignments[c] for c in kept})}
  FROM {qtable} t
  WHERE IN_BATCH(t.id) AND ({where})
    AND {row(old[c] for c in kept)} IS DISTINCT FROM {row(assignments[c] for c in kept)}
  ON CONFLICT (revision, table_name, pk) DO NOTHING
),
affected AS (
  UPDATE {qtable} t SET {", ".join(f"{ident(c)} = {e}" for c, e in assignments.items())}
  WHERE IN_BATCH(t.id) AND ({where}) AND {row(old.values())} IS DISTINCT FROM {row(assignments.values())}
  RETURNING 1
)"""
    return batches.BatchStep(revision=revision, name=name, source=qtable, ctes=ctes)


def rewrite_in_batches(
    revision: str,
    name: str,
    table: str,
    assignments: dict[str, str],
    *,
    where: str = "TRUE",
    preserve: list[str] | None = None,
) -> int:
    """Rewrite columns in keyset batches, saving pre-images; returns rows changed."""
    ensure_pre_image_table()
    return batches.run(rewrite_step(revision, name, table, assignments, where=where, preserve=preserve))


def restore_step(revision: str, table: str, columns: list[str]) -> batches.BatchStep:
    qtable = qualified("public", table)
    # Column by column: a value still equal to what the upgrade wrote gets its pre-image back.
    unchanged = "jsonb_build_object({name}, t.{col}) = jsonb_build_object({name}, p.after->{name})"
    assignments = ", ".join(
        f"{ident(c)} = CASE WHEN {unchanged.format(name=literal(c), col=ident(c))} "
        f"THEN r.{ident(c)} ELSE t.{ident(c)} END"
        for c in columns
    )
    ctes = f"""restored AS (
  UPDATE {qtable} t SET {assignments}
  FROM {PRE_IMAGES} p, jsonb_populate_record(NULL::{qtable}, p.before) r
  WHERE p.revision = {literal(revision)} AND p.table_name = {literal(table)} AND IN_BATCH(p.pk)
    AND t.id = p.pk AND IN_BATCH(t.id)
  RETURNING 1
),
affected AS (
  DELETE FROM {PRE_IMAGES} p
  WHERE p.revision = {literal(revision)} AND p.table_name = {literal(table)} AND IN_BATCH(p.pk)
  RETURNING 1
)"""
    return batches.BatchStep(
        revision=revision,
        name=f"restore {table} {','.join(columns)}",
        source=PRE_IMAGES,
        ctes=ctes,
        key="pk",
        source_filter=f"revision = {literal(revision)} AND table_name = {literal(table)}",
    )


def restore_pre_images(revision: str, table: str, columns: list[str]) -> None:
    """Put back the pre-images `revision` saved for `table` (where unchanged since), then forget them."""
    ensure_pre_image_table()
    batches.run(restore_step(revision, table, columns))

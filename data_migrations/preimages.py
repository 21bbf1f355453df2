"""Pre-images: the values an upgrade rewrites, saved first so the downgrade restores them exactly.

`rewrite_in_batches` computes new values for some columns and, in the same statement as
the update, saves each changed row's `before` and `after` values into a table of its
own, `taptik_archive.pre_images_<revision>_<table>`, with the columns' own types. That
table has no index while it is loaded (its index on `pk` is built once the step is
done: a unique index on random uuids was a third of the rewrite's time at 1M rows).
`restore_pre_images` puts `before` back, column by column, only where the row still
holds `after`: a value the application changed since the upgrade is newer than both
and is kept. A row rewritten twice (the application put the old value back and a later
pass rewrote it) is restored from its newest pre-image.

Databases upgraded before this layout keep theirs in `taptik_archive.pre_images`
(jsonb, one row per key); `restore_pre_images` restores from it too.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import text

from data_migrations import batches, runtime
from data_migrations.lint import ignore_comment
from data_migrations.sql import ident, literal, qualified

log = logging.getLogger("alembic.taptik")

LEGACY_PRE_IMAGES = qualified(batches.ARCHIVE_SCHEMA, "pre_images")
# Our own table, loaded by this step and unknown to the application: no concurrent build needed.
_OWN_TABLE = ("require-concurrent-index-creation", "the pre-image table is the migrator's own, unknown to the app")
_RESTORED = ("ban-drop-table", "the pre-image table is the migrator's own, and empty once restored")


def pre_image_table(revision: str, table: str) -> str:
    return qualified(batches.ARCHIVE_SCHEMA, f"pre_images_{revision}_{table}")


def _before(column: str) -> str:
    return ident(f"before__{column}")


def _after(column: str) -> str:
    return ident(f"after__{column}")


def pre_image_table_sql(revision: str, table: str, columns: list[str]) -> str:
    """CREATE the pre-image table of `revision` for `table`: key, before and after of `columns`, in their types."""
    values = ", ".join(f"t.{ident(c)} AS {_before(c)}, t.{ident(c)} AS {_after(c)}" for c in columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {pre_image_table(revision, table)} AS "
        f"SELECT t.id AS pk, {values}, now() AS saved_at FROM {qualified('public', table)} t WITH NO DATA"
    )


def ensure_pre_image_table(revision: str, table: str, columns: list[str]) -> None:
    batches.ensure_progress_table()  # creates the schema too
    op.execute(text(pre_image_table_sql(revision, table, columns)))


def index_pre_images(revision: str, table: str) -> None:
    name = ident(f"pre_images_{revision}_{table}_pk")
    statement = f"CREATE INDEX IF NOT EXISTS {name} ON {pre_image_table(revision, table)} (pk)"
    op.execute(text(ignore_comment(_OWN_TABLE) + statement))


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
    values change get a pre-image.

    Each expression is computed once per row (`calc`), and the UPDATE joins `calc` on the
    row version's ctid. When the application updates a row while its batch waits for it,
    PostgreSQL rechecks the join on the new version, whose ctid differs: the row is skipped,
    never written with values computed from the old version (a lost update), and the
    runner's catch-up pass rewrites it from its new version. For the same reason the
    pre-image is taken from exactly the version the update replaced.
    """
    qtable = qualified("public", table)
    kept = preserve if preserve is not None else list(assignments)
    cols = list(assignments)

    def old(c: str) -> str:
        return ident(f"old__{c}")

    def new(c: str) -> str:
        return ident(f"new__{c}")

    def row(exprs) -> str:
        return "ROW(" + ", ".join(exprs) + ")"

    saved = ""
    if kept:
        saved = f""",
saved AS (
  INSERT INTO {pre_image_table(revision, table)} (pk, {", ".join(f"{_before(c)}, {_after(c)}" for c in kept)}, saved_at)
  SELECT a.row_id, {", ".join(f"a.{old(c)}, a.{new(c)}" for c in kept)}, now()
  FROM affected a WHERE {row(f"a.{old(c)}" for c in kept)} IS DISTINCT FROM {row(f"a.{new(c)}" for c in kept)}
)"""
    # OFFSET 0 keeps the inner query a subquery, so the filter reads the computed columns
    # instead of evaluating every expression a second time.
    ctes = f"""calc AS MATERIALIZED (
  SELECT * FROM (
    SELECT t.ctid AS row_ctid, t.id AS row_id,
           {", ".join(f"t.{ident(c)} AS {old(c)}" for c in cols)},
           {", ".join(f"{assignments[c]} AS {new(c)}" for c in cols)}
    FROM {qtable} t WHERE IN_BATCH(t.id) AND ({where})
    OFFSET 0
  ) c
  WHERE {row(f"c.{old(c)}" for c in cols)} IS DISTINCT FROM {row(f"c.{new(c)}" for c in cols)}
),
affected AS (
  UPDATE {qtable} t SET {", ".join(f"{ident(c)} = calc.{new(c)}" for c in cols)}
  FROM calc WHERE t.ctid = calc.row_ctid AND IN_BATCH(t.id)
  RETURNING calc.*
){saved}"""
    pending = f"({where}) AND {row(f't.{ident(c)}' for c in cols)} IS DISTINCT FROM {row(assignments.values())}"
    return batches.BatchStep(revision=revision, name=name, source=qtable, ctes=ctes, paging="blocks", pending=pending)


def rewrite_in_batches(
    revision: str,
    name: str,
    table: str,
    assignments: dict[str, str],
    *,
    where: str = "TRUE",
    preserve: list[str] | None = None,
) -> int:
    """Rewrite columns in batches of heap blocks, saving pre-images; returns rows changed."""
    kept = preserve if preserve is not None else list(assignments)
    if kept:
        ensure_pre_image_table(revision, table, kept)
    changed = batches.run(rewrite_step(revision, name, table, assignments, where=where, preserve=preserve))
    if kept:
        index_pre_images(revision, table)  # after the load, as for any new table
    return changed


def _restore_assignments(columns: list[str], after, before) -> str:
    """Column by column: a value still equal to what the upgrade wrote gets its pre-image back.

    Compared as jsonb (NULL included), so types without an equality operator work too.
    """
    return ", ".join(
        f"{ident(c)} = CASE WHEN jsonb_build_object('v', t.{ident(c)}) = jsonb_build_object('v', {after(c)}) "
        f"THEN {before(c)} ELSE t.{ident(c)} END"
        for c in columns
    )


def restore_step(revision: str, table: str, columns: list[str]) -> batches.BatchStep:
    qtable = qualified("public", table)
    pre = pre_image_table(revision, table)
    assignments = _restore_assignments(columns, lambda c: f"p.{_after(c)}", lambda c: f"p.{_before(c)}")
    ctes = f"""restored AS (
  UPDATE {qtable} t SET {assignments}
  FROM (SELECT DISTINCT ON (q.pk) q.* FROM {pre} q WHERE IN_BATCH(q.pk) ORDER BY q.pk, q.saved_at DESC) p
  WHERE t.id = p.pk AND IN_BATCH(t.id)
  RETURNING 1
),
affected AS (
  DELETE FROM {pre} p WHERE IN_BATCH(p.pk)
  RETURNING 1
)"""
    return batches.BatchStep(
        revision=revision, name=f"restore {table} {','.join(columns)}", source=pre, ctes=ctes, key="pk"
    )


def restore_pre_images(revision: str, table: str, columns: list[str]) -> None:
    """Put back the pre-images `revision` saved for `table` (where unchanged since), then forget them."""
    pre = pre_image_table(revision, table)
    exists = f"to_regclass({literal(pre)}) IS NOT NULL"
    legacy = f"to_regclass({literal(LEGACY_PRE_IMAGES)}) IS NOT NULL"
    if runtime.offline():
        batches.run(_legacy_restore_step(revision, table, columns), offline_guard=legacy)
        batches.run(restore_step(revision, table, columns), offline_guard=exists)
        op.execute(text(f"{ignore_comment(_RESTORED)}DROP TABLE IF EXISTS {pre}"))
        return
    conn = op.get_bind()
    if conn.execute(text(f"SELECT {legacy}")).scalar():
        batches.run(_legacy_restore_step(revision, table, columns))
    if conn.execute(text(f"SELECT {exists}")).scalar():
        index_pre_images(revision, table)  # a run killed before the index was built
        batches.run(restore_step(revision, table, columns))
        op.execute(text(f"DROP TABLE {pre}"))  # empty: every row was restored


def _legacy_restore_step(revision: str, table: str, columns: list[str]) -> batches.BatchStep:
    qtable = qualified("public", table)
    assignments = _restore_assignments(columns, lambda c: f"p.after->{literal(c)}", lambda c: f"r.{ident(c)}")
    ctes = f"""restored AS (
  UPDATE {qtable} t SET {assignments}
  FROM {LEGACY_PRE_IMAGES} p, jsonb_populate_record(NULL::{qtable}, p.before) r
  WHERE p.revision = {literal(revision)} AND p.table_name = {literal(table)} AND IN_BATCH(p.pk)
    AND t.id = p.pk AND IN_BATCH(t.id)
  RETURNING 1
),
affected AS (
  DELETE FROM {LEGACY_PRE_IMAGES} p
  WHERE p.revision = {literal(revision)} AND p.table_name = {literal(table)} AND IN_BATCH(p.pk)
  RETURNING 1
)"""
    return batches.BatchStep(
        revision=revision,
        name=f"restore {table} {','.join(columns)} (jsonb pre-images)",
        source=LEGACY_PRE_IMAGES,
        ctes=ctes,
        key="pk",
        source_filter=f"revision = {literal(revision)} AND table_name = {literal(table)}",
    )

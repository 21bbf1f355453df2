"""Batched, resumable data steps (DESIGN.md rule 2).

A step is a few SQL CTEs over `batch`, the primary keys of one keyset page of a source
table (`WHERE id > :last ORDER BY id LIMIT :n`, never OFFSET). The CTEs must define
`affected` (one row per row the step changed). The runner wraps them with the page
selection and an upsert of the checkpoint row, so each batch and its checkpoint are ONE
statement: one short transaction, atomic. A run killed with SIGKILL resumes after the
last committed batch; a repeated batch changes nothing because steps only touch rows
that still need it.

Offline (`--sql`) the same CTEs render once over the whole table: one set-based statement.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

from alembic import op
from sqlalchemy import text

from data_migrations import runtime
from data_migrations.ddl import with_lock_retries
from data_migrations.sql import ident, literal, qualified

log = logging.getLogger("alembic.taptik")

ARCHIVE_SCHEMA = "taptik_archive"
PROGRESS_TABLE = "taptik_migration_progress"
PROGRESS = qualified(ARCHIVE_SCHEMA, PROGRESS_TABLE)
DEFAULT_BATCH_ROWS = 10_000
TARGET_BATCH_SECONDS = 1.0
_REPORT_EVERY_S = 2.0


@dataclass(frozen=True)
class BatchStep:
    """One resumable data step of a revision."""

    revision: str
    name: str
    source: str  # qualified table whose primary key is paged
    ctes: str  # SQL CTEs after `batch`; must define `affected`; may use IN_BATCH(<key column>)
    params: dict = field(default_factory=dict)
    source_filter: str = "TRUE"  # extra condition on the source rows (alias-free)
    key: str = "id"
    key_type: str = "uuid"


def ensure_progress_table() -> None:
    op.execute(text(f"CREATE SCHEMA IF NOT EXISTS {ident(ARCHIVE_SCHEMA)}"))
    op.execute(
        text(
            f"""CREATE TABLE IF NOT EXISTS {PROGRESS} (
  revision text NOT NULL,
  step text NOT NULL,
  last_key text,
  rows_done bigint NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (revision, step)
)"""
        )
    )


_IN_BATCH = re.compile(r"IN_BATCH\(([^()]+)\)")


def _expand(step: BatchStep, in_batch: str) -> str:
    """Replace IN_BATCH(col) by the batch's key range on `col`.

    A range on the key lets the planner walk the primary-key index over exactly this
    page; joining `batch` instead was planned as a hash join over the whole table, so
    every batch read every row (found by benchmarks/events_backfill.py).
    """
    return _IN_BATCH.sub(lambda m: in_batch.format(col=m.group(1).strip()), step.ctes)


def batch_statement(step: BatchStep) -> str:
    """The SQL of one batch: page selection, the step's CTEs, the checkpoint upsert."""
    in_range = f"({{col}} > CAST(:last AS {step.key_type}) AND {{col}} <= (SELECT hi FROM bounds))"
    return f"""WITH batch AS MATERIALIZED (
  SELECT {ident(step.key)} AS id FROM {step.source}
  WHERE ({step.source_filter}) AND {ident(step.key)} > CAST(:last AS {step.key_type})
  ORDER BY {ident(step.key)} LIMIT :n
),
bounds AS MATERIALIZED (SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS hi),
{_expand(step, in_range)},
summary AS (
  SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_key,
         (SELECT count(*) FROM batch) AS scanned,
         (SELECT count(*) FROM affected) AS affected
),
checkpoint AS (
  INSERT INTO {PROGRESS} AS p (revision, step, last_key, rows_done, updated_at)
  SELECT :revision, :step, CAST(last_key AS text), affected, now() FROM summary WHERE last_key IS NOT NULL
  ON CONFLICT (revision, step) DO UPDATE
    SET last_key = EXCLUDED.last_key, rows_done = p.rows_done + EXCLUDED.rows_done, updated_at = now()
)
SELECT CAST(last_key AS text) AS last_key, scanned, affected FROM summary"""


def whole_table_statement(step: BatchStep) -> str:
    """The same step as one set-based statement, for offline SQL."""
    return f"""WITH batch AS (
  SELECT {ident(step.key)} AS id FROM {step.source} WHERE ({step.source_filter})
),
{_expand(step, "TRUE")}
SELECT count(*) FROM affected"""


_LOWEST_KEY = {"uuid": "00000000-0000-0000-0000-000000000000", "bigint": "-9223372036854775808"}


def run(step: BatchStep, *, batch_rows: int | None = None, offline_guard: str | None = None) -> int:
    """Run a step to completion; returns the rows it changed in this run.

    `offline_guard`: a condition the rendered offline SQL checks before running the step
    (online, Python decides before calling).
    """
    if runtime.offline():  # one set-based statement, inside the revision's transaction
        statement = whole_table_statement(step)
        if offline_guard:
            statement = f"DO $g$ BEGIN IF {offline_guard} THEN EXECUTE {literal(statement)}; END IF; END $g$"
        op.execute(text(statement).bindparams(**step.params))
        return 0
    opts = op.get_context().opts
    limit = batch_rows or int(opts.get("taptik_batch_rows") or DEFAULT_BATCH_ROWS)
    pause = float(opts.get("taptik_batch_pause") or 0)
    with runtime.outside_transaction():
        ensure_progress_table()
        conn = op.get_bind()
        row = conn.execute(
            text(f"SELECT last_key, rows_done, finished_at FROM {PROGRESS} WHERE revision = :r AND step = :s"),
            {"r": step.revision, "s": step.name},
        ).first()
        if row and row.finished_at:
            log.info("%s %s: already finished in an earlier run", step.revision, step.name)
            return 0
        last = row.last_key if row and row.last_key else _LOWEST_KEY[step.key_type]
        if row:
            log.info("%s %s: resuming after key %s (%d rows done)", step.revision, step.name, last, row.rows_done)
        progress = _Progress(step, conn)
        statement = text(batch_statement(step))
        size = min(1000, limit)
        changed = 0
        while True:
            started = time.monotonic()
            params = {**step.params, "last": last, "n": size, "revision": step.revision, "step": step.name}
            # A batch is one statement: a lock timeout changed nothing, so it is retried as is.
            result = with_lock_retries(
                lambda c, p=params: c.execute(statement, p).one(), f"a batch of {step.revision} {step.name}"
            )
            if result.scanned == 0:
                break
            last = result.last_key
            changed += result.affected
            progress.advance(result.scanned, result.affected)
            elapsed = time.monotonic() - started
            # Batch size by rows and by time: grow while batches are quick, shrink when slow.
            if elapsed < TARGET_BATCH_SECONDS / 2:
                size = min(limit, size * 2)
            elif elapsed > TARGET_BATCH_SECONDS:
                size = max(100, size // 2)
            if pause:
                time.sleep(pause)  # room for the application between batches
        conn.execute(
            text(f"UPDATE {PROGRESS} SET finished_at = now() WHERE revision = :r AND step = :s"),
            {"r": step.revision, "s": step.name},
        )
        progress.finish()
    return changed


def clear_progress(revision: str) -> None:
    """Forget a revision's checkpoints once it has finished (upgrade or downgrade).

    Checkpoints only live while a revision is in flight: a run killed halfway leaves them
    for the rerun to resume from; a finished run leaves none (`taptik-db status` reads them).
    Steps named `<revision>-<suffix>` (a downgrade's own data steps) are cleared with it.
    """
    op.execute(
        text(
            f"""DO $p$
BEGIN
  IF to_regclass({literal(PROGRESS)}) IS NOT NULL THEN
    DELETE FROM {PROGRESS} WHERE revision = {literal(revision)} OR revision LIKE {literal(revision + "-%")};
  END IF;
END
$p$"""
        )
    )


class _Progress:
    """Rows done, rate and ETA on stderr (through Alembic's logger) every few seconds."""

    def __init__(self, step: BatchStep, conn):
        self.step = step
        self.started = self.last_report = time.monotonic()
        self.scanned = self.affected = 0
        self.total = conn.execute(
            text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(:t)"),
            {"t": step.source},
        ).scalar()

    def advance(self, scanned: int, affected: int) -> None:
        self.scanned += scanned
        self.affected += affected
        now = time.monotonic()
        if now - self.last_report >= _REPORT_EVERY_S:
            self.last_report = now
            rate = self.scanned / max(now - self.started, 1e-6)
            eta = f", ETA {max(self.total - self.scanned, 0) / rate:.0f} s" if self.total else ""
            log.info(
                "%s %s: %d of ~%d rows scanned, %d changed, %.0f rows/s%s",
                self.step.revision,
                self.step.name,
                self.scanned,
                self.total or 0,
                self.affected,
                rate,
                eta,
            )

    def finish(self) -> None:
        elapsed = time.monotonic() - self.started
        log.info(
            "%s %s: done, %d rows scanned, %d changed in %.1f s",
            self.step.revision,
            self.step.name,
            self.scanned,
            self.affected,
            elapsed,
        )

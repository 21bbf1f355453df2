"""Batched, resumable data steps (DESIGN.md rule 2).

A step is a few SQL CTEs restricted to one page of a source table by `IN_BATCH(<col>)`.
The CTEs must define `affected` (one row per row the step changed). The runner wraps
them with the page selection and an upsert of the checkpoint row, so each batch and its
checkpoint are ONE statement: one short transaction, atomic. A run killed with SIGKILL
resumes after the last committed batch; a repeated batch changes nothing because steps
only touch rows that still need it.

Two ways to page:
- `paging="key"` (loads, restores): keyset pages on the primary key
  (`WHERE id > :last ORDER BY id LIMIT :n`, never OFFSET).
- `paging="blocks"` (rewrites of a table in place): ranges of heap blocks
  (`ctid >= '(lo,0)' AND ctid < '(hi,0)'`, a TID range scan). With random uuid keys a
  keyset page is spread over the whole heap: every batch dirtied pages and index leaves
  all over the table and each was logged again after every checkpoint (3.2 GB of WAL for
  a 1M-row rewrite against 1.3 GB for one UPDATE; benchmarks/description_backfill.py).
  A block range reads and dirties each page once.
  A row the application moves during the sweep (its new version lands in a range already
  swept) or inserts meanwhile is caught by the `pending` pass below.

`pending` (a condition over alias `t` of the source) makes the runner finish with a
catch-up pass: one scan for the rows that still need the step, then batches by key
(`IN_BATCH(col)` becomes `col = ANY(:ids)`), each repeated until it changes nothing.

Offline (`--sql`) the same CTEs render once over the whole table: one set-based statement.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from dataclasses import dataclass, field

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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
    paging: str = "key"  # "key": keyset pages on `key`; "blocks": heap block ranges (IN_BATCH(<alias>.<key>))
    pending: str | None = None  # condition over alias `t` of the source: rows the step still has to change


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
    """The SQL of one keyset batch: page selection, the step's CTEs, the checkpoint upsert."""
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
{_checkpoint_cte("CAST(last_key AS text)")}
SELECT CAST(last_key AS text) AS last_key, scanned, affected FROM summary"""


def _tid_range(col: str) -> str:
    alias = col.rsplit(".", 1)[0] if "." in col else None
    if alias is None:
        raise ValueError(f"blocks paging needs IN_BATCH(<alias>.<key>), got IN_BATCH({col})")
    return f"({alias}.ctid >= CAST(:lo AS tid) AND {alias}.ctid < CAST(:hi AS tid))"


def _checkpoint_cte(last_key: str) -> str:
    return f"""checkpoint AS (
  INSERT INTO {PROGRESS} AS p (revision, step, last_key, rows_done, updated_at)
  SELECT :revision, :step, {last_key}, affected, now() FROM summary WHERE {last_key} IS NOT NULL
  ON CONFLICT (revision, step) DO UPDATE
    SET last_key = EXCLUDED.last_key, rows_done = p.rows_done + EXCLUDED.rows_done, updated_at = now()
)"""


def block_statement(step: BatchStep) -> str:
    """One batch over the heap blocks [:lo, :hi) of the source; the checkpoint records :hi."""
    ctes = _IN_BATCH.sub(lambda m: _tid_range(m.group(1).strip()), step.ctes)
    return f"""WITH {ctes},
summary AS (
  SELECT (SELECT count(*) FROM {step.source} s
          WHERE s.ctid >= CAST(:lo AS tid) AND s.ctid < CAST(:hi AS tid) AND ({step.source_filter})) AS scanned,
         (SELECT count(*) FROM affected) AS affected
),
{_checkpoint_cte("CAST(:hi AS text)")}
SELECT CAST(:hi AS text) AS last_key, scanned, affected FROM summary"""


def ids_statement(step: BatchStep) -> str:
    """One catch-up batch over the keys :ids; the checkpoint keeps its last_key."""
    ctes = _IN_BATCH.sub(lambda m: f"({m.group(1).strip()} = ANY(CAST(:ids AS {step.key_type}[])))", step.ctes)
    return f"""WITH {ctes},
summary AS (
  SELECT cardinality(CAST(:ids AS {step.key_type}[])) AS scanned, (SELECT count(*) FROM affected) AS affected
),
checkpoint AS (
  UPDATE {PROGRESS} SET rows_done = rows_done + (SELECT affected FROM summary), updated_at = now()
  WHERE revision = :revision AND step = :step
)
SELECT NULL AS last_key, scanned, affected FROM summary"""


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
        if row:
            where = f"at block {row.last_key}" if step.paging == "blocks" else f"after key {row.last_key}"
            log.info("%s %s: resuming %s (%d rows done)", step.revision, step.name, where, row.rows_done)
        runner = _Runner(step, conn, limit, pause)
        last_key = row.last_key if row else None
        changed = runner.sweep_blocks(last_key) if step.paging == "blocks" else runner.sweep_keys(last_key)
        if step.pending is not None:
            changed += runner.catch_up()
        conn.execute(
            text(f"UPDATE {PROGRESS} SET finished_at = now() WHERE revision = :r AND step = :s"),
            {"r": step.revision, "s": step.name},
        )
        runner.progress.finish()
    return changed


_TID = re.compile(r"^\((\d+),0\)$")
_CATCH_UP_REPEATS = 5


class _Runner:
    """The batch loop: one statement per batch, sized by rows and by time, retried on lock timeouts."""

    def __init__(self, step: BatchStep, conn, limit: int, pause: float):
        self.step, self.conn, self.limit, self.pause = step, conn, limit, pause
        self.progress = _Progress(step, conn)
        self.base = {**step.params, "revision": step.revision, "step": step.name}

    def _batch(self, statement, params: dict):
        # A batch is one statement: a lock timeout changed nothing, so it is retried as is.
        return with_lock_retries(
            lambda c: c.execute(statement, {**self.base, **params}).one(),
            f"a batch of {self.step.revision} {self.step.name}",
        )

    def _after(self, size: int, started: float, limit: int) -> int:
        """Batch size by rows and by time: grow while batches are quick, shrink when slow."""
        elapsed = time.monotonic() - started
        if elapsed < TARGET_BATCH_SECONDS / 2:
            size = min(limit, size * 2)
        elif elapsed > TARGET_BATCH_SECONDS:
            size = max(1, size // 2)
        if self.pause:
            time.sleep(self.pause)  # room for the application between batches
        return size

    def sweep_keys(self, last_key: str | None) -> int:
        statement = text(batch_statement(self.step))
        last = last_key or _LOWEST_KEY[self.step.key_type]
        size, changed = min(1000, self.limit), 0
        while True:
            started = time.monotonic()
            result = self._batch(statement, {"last": last, "n": size})
            if result.scanned == 0:
                return changed
            last = result.last_key
            changed += result.affected
            self.progress.advance(result.scanned, result.affected)
            size = max(min(100, self.limit), self._after(size, started, self.limit))

    def sweep_blocks(self, last_key: str | None) -> int:
        """Heap blocks from the checkpoint to the table's end as the sweep starts.

        Versions the sweep itself writes land past that end (or in free space, where a
        second visit finds nothing to change); rows the application moves or inserts are
        left to the catch-up pass.
        """
        statement = text(block_statement(self.step))
        end, per_block = self.conn.execute(
            text(
                "SELECT pg_relation_size(c.oid) / current_setting('block_size')::int, "
                "CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages ELSE 50 END "
                "FROM pg_class c WHERE c.oid = to_regclass(:t)"
            ),
            {"t": self.step.source},
        ).one()
        match = _TID.match(last_key or "")
        lo = int(match.group(1)) if match else 0
        limit = max(1, int(self.limit / per_block))
        size, changed = max(1, min(limit, int(1000 / per_block))), 0
        while lo < end:
            hi = min(end, lo + size)
            started = time.monotonic()
            result = self._batch(statement, {"lo": f"({lo},0)", "hi": f"({hi},0)"})
            changed += result.affected
            self.progress.advance(result.scanned, result.affected)
            lo = hi
            size = self._after(size, started, limit)
        return changed

    def catch_up(self) -> int:
        """Rows that still need the step after the sweep: one scan, then batches by key.

        Each batch is repeated until it changes nothing: a row the application updated
        while its batch ran was skipped (never overwritten), and the repeat takes it.
        """
        step, conn = self.step, self.conn
        conn.execute(
            text(
                f"DECLARE taptik_pending NO SCROLL CURSOR WITH HOLD FOR "
                f"SELECT t.{ident(step.key)} FROM {step.source} t WHERE ({step.source_filter}) AND ({step.pending})"
            ).bindparams(**step.params)
        )
        statement = text(ids_statement(step))
        changed = found = 0
        try:
            while True:
                ids = [r[0] for r in conn.execute(text(f"FETCH FORWARD {max(self.limit, 1)} FROM taptik_pending"))]
                if not ids:
                    break
                found += len(ids)
                for _repeat in range(_CATCH_UP_REPEATS):
                    result = self._batch(statement, {"ids": ids})
                    changed += result.affected
                    self.progress.advance(0, result.affected)
                    if result.affected == 0:
                        break
                    if self.pause:
                        time.sleep(self.pause)
        finally:
            with contextlib.suppress(DBAPIError):  # a failed transaction closes it anyway
                conn.execute(text("CLOSE taptik_pending"))
        if found:
            what = f"{step.revision} {step.name}"
            log.info("%s: catch-up pass found %d rows still to do, changed %d", what, found, changed)
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

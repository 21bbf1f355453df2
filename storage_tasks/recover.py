"""`taptik-db recover`: the three states a failed migration leaves behind, and their fixes.

- A stale migration lock: its holder is idle and has not changed state for longer than
  `stale_after` (a migrator whose client hung or vanished without closing its socket).
  Its backend is terminated, which releases the lock. A holder that is doing anything
  is never touched: that is a migration running.
- An INVALID index left by a failed `CREATE INDEX CONCURRENTLY`: its definition is
  kept, the index dropped and built again, both concurrently. If the build fails again
  (a unique index over duplicates), the new invalid index is dropped too (an invalid
  unique index still rejects writes) and the report gives the definition to run once
  the data is fixed.
- Checkpoints of a batched step that never finished (a killed run): the upgrade runs
  again and resumes after the last committed batch.

Indexes are only touched while recover holds the migration lock itself: a running
migrator's concurrent build also shows as INVALID until it ends.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from data_migrations.locks import lock_holder, migration_lock, set_migration_timeouts
from storage_tasks import migrator
from storage_tasks.status import alembic_error, describe_holder, invalid_indexes, run_alembic, unfinished_checkpoints
from taptik_models.errors import TaptikError
from taptik_models.settings import redact_url

LOCK_WAIT_S = 5.0


@dataclass
class Action:
    state: str  # stale_lock | invalid_index | unfinished_checkpoint
    target: str
    action: str
    done: bool = False
    error: str | None = None


@dataclass
class RecoverReport:
    database: str
    dry_run: bool
    actions: list[Action] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)  # found, deliberately left alone, and why

    @property
    def ok(self) -> bool:
        return not self.untouched and all(a.error is None and (a.done or self.dry_run) for a in self.actions)


def _idle_seconds(conn: Connection, pid: int) -> tuple[str | None, float]:
    row = conn.execute(
        text("SELECT state, extract(epoch FROM now() - state_change) FROM pg_stat_activity WHERE pid = :p"),
        {"p": pid},
    ).first()
    return (row[0], float(row[1] or 0)) if row else (None, 0.0)


def _release_stale_lock(conn: Connection, stale_after: timedelta, report: RecoverReport) -> bool:
    """True when the lock is free (or was freed); False when a live holder keeps it."""
    holder = lock_holder(conn)
    if holder is None:
        return True
    state, idle = _idle_seconds(conn, holder["pid"])
    if state != "idle" or idle < stale_after.total_seconds():
        report.untouched.append(
            f"{describe_holder(holder)}, {state} for {idle:.0f} s: not stale (--stale-after "
            f"{stale_after.total_seconds():g} s), left alone; nothing else recovered while a migrator may be running"
        )
        return False
    action = Action("stale_lock", f"backend pid {holder['pid']}", f"pg_terminate_backend({holder['pid']})")
    report.actions.append(action)
    if report.dry_run:
        return False
    if not conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": holder["pid"]}).scalar():
        action.error = "pg_terminate_backend refused (the holder belongs to another role?)"
        return False
    deadline = time.monotonic() + LOCK_WAIT_S
    while lock_holder(conn) is not None:
        if time.monotonic() > deadline:
            action.error = f"backend {holder['pid']} still holds the lock {LOCK_WAIT_S:g} s after termination"
            return False
        time.sleep(0.05)
    action.done = True
    return True


def concurrent_definition(definition: str) -> str:
    """pg_get_indexdef's CREATE [UNIQUE] INDEX ..., built CONCURRENTLY."""
    return re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX CONCURRENTLY ", definition, count=1)


def _rebuild_index(conn: Connection, index: dict, report: RecoverReport) -> None:
    drop = f'DROP INDEX CONCURRENTLY IF EXISTS public."{index["name"]}"'
    create = concurrent_definition(index["definition"])
    action = Action("invalid_index", index["name"], f"{drop}; {create}")
    report.actions.append(action)
    if report.dry_run:
        return
    conn.execute(text(drop))
    try:
        conn.execute(text(create))
    except DBAPIError as exc:
        conn.execute(text(drop))  # an invalid unique index would still reject writes
        reason = str(exc.orig).strip().splitlines()[0]
        action.error = f"could not rebuild {index['name']}: {reason}; it was dropped: fix the data, then run: {create}"
        return
    action.done = True


def _resume_checkpoints(url: str, to: str, report: RecoverReport) -> None:
    checkpoints = _unfinished_checkpoints_of(url)
    downgrades = sorted({c["revision"] for c in checkpoints if "-" in c["revision"]})
    for revision in downgrades:
        report.untouched.append(
            f"checkpoint of the interrupted downgrade {revision}: rerun that `alembic downgrade` to resume it"
        )
    upgrades = sorted({c["revision"] for c in checkpoints if "-" not in c["revision"]})
    if not upgrades:
        return
    action = Action("unfinished_checkpoint", ", ".join(upgrades), f"alembic upgrade {to} (resumes the checkpoints)")
    report.actions.append(action)
    if report.dry_run:
        return
    done = run_alembic(url, "upgrade", to)
    if done.returncode != 0:
        action.error = f"alembic upgrade {to} failed: {alembic_error(url, done)}"
        return
    action.done = True


def _unfinished_checkpoints_of(url: str) -> list[dict]:
    with migrator.connect(url) as conn:
        return unfinished_checkpoints(conn)


def recover(
    database_url: str | None = None,
    *,
    dry_run: bool = False,
    stale_after: timedelta = timedelta(minutes=10),
    to: str = "head",
) -> RecoverReport:
    """Release a stale lock, rebuild invalid indexes, resume unfinished batched steps (in that order)."""
    url = migrator.resolve_url(database_url, None)
    report = RecoverReport(redact_url(url), dry_run)
    with migrator.connect(url) as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # CONCURRENTLY refuses a transaction
        lock_free = _release_stale_lock(conn, stale_after, report)
        if dry_run:  # what the rest would be, once the lock is free
            for index in invalid_indexes(conn):
                _rebuild_index(conn, index, report)
        elif not lock_free:
            return report
        else:
            try:
                _rebuild_invalid_indexes(conn, report)
            except TaptikError as exc:  # a migrator took the lock in the meantime
                report.untouched.append(str(exc))
                return report
    _resume_checkpoints(url, to, report)
    return report


def _rebuild_invalid_indexes(conn: Connection, report: RecoverReport) -> None:
    options = migrator.MigrationOptions()
    with migration_lock(conn, LOCK_WAIT_S):
        set_migration_timeouts(conn, options.lock_timeout, options.statement_timeout)
        for index in invalid_indexes(conn):
            _rebuild_index(conn, index, report)

"""Lock-safe DDL (DESIGN.md rule 3), as small named helpers revisions call.

- Every statement that locks a busy table runs under the migrator's `lock_timeout`
  and is retried with backoff when the lock is not granted (GitLab's with_lock_retries).
- Indexes on existing tables are built CONCURRENTLY, outside a transaction; an INVALID
  index left by an earlier failed build is dropped first.
- Foreign keys and checks are added NOT VALID, then validated (SHARE UPDATE EXCLUSIVE).
- NOT NULL goes through a validated CHECK, so SET NOT NULL skips its full-table scan.
All helpers are idempotent: rerunning a revision killed halfway finishes it.
"""

from __future__ import annotations

import logging
import re
import time

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from data_migrations import runtime
from data_migrations.lint import Ignore, ignore_comment
from data_migrations.sql import ident, literal, qualified
from taptik_models.errors import LockNotGranted

log = logging.getLogger("alembic.taptik")

LOCK_RETRIES = 5
LOCK_NOT_AVAILABLE = "55P03"


def with_lock_retries(attempt, what: str, *, retries: int = LOCK_RETRIES, first_pause: float = 0.2):
    """Call `attempt(connection)`; when a lock is not granted within lock_timeout, back off and retry.

    Inside a transaction each attempt is a savepoint, so a timed-out attempt does not abort
    the migration. After `retries` attempts LockNotGranted ends the run cleanly: it never
    waits indefinitely behind (and in front of) the application's queries.
    """
    conn = op.get_bind()
    pause = first_pause
    for number in range(1, retries + 1):
        try:
            if conn.in_transaction() and not runtime.in_autocommit(conn):
                with conn.begin_nested():
                    return attempt(conn)
            return attempt(conn)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            if number == retries:
                raise LockNotGranted(
                    f"gave up after {retries} attempts to lock for: {what} "
                    f"(lock_timeout {_setting(conn, 'lock_timeout')} each; another transaction holds it: "
                    "retry when it ends, or raise -x lock_timeout)"
                ) from None
            log.warning("lock not granted (attempt %d/%d), retrying in %.1fs: %s", number, retries, pause, what)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
    raise AssertionError("unreachable")


_ALTERED = re.compile(r"^ALTER TABLE (\S+) ")
_REFERENCED = re.compile(r" REFERENCES (\S+) ")


def _autovacuum_fence(conn, sql: str) -> str | None:
    """LOCK the tables an ALTER TABLE touches in SHARE UPDATE EXCLUSIVE mode first, in its transaction.

    A DDL statement that waits for autovacuum (which holds SHARE UPDATE EXCLUSIVE while it
    works on a table we just rewrote or loaded) queues every application query on that
    table behind it until the deadlock check cancels autovacuum, deadlock_timeout (1 s)
    later: benchmarks/zero_downtime.py saw two 1 s probe stalls so. The fence waits for
    the same autovacuum (and gets it cancelled the same way), but queues no application
    query: SHARE UPDATE EXCLUSIVE does not conflict with reads and row writes. Holding it,
    the ALTER then only waits for application transactions. Tables we may not lock
    (auth.users on Supabase) are left out.
    """
    tables = _ALTERED.findall(sql) + _REFERENCED.findall(sql)
    lockable = [t for t in tables if conn.execute(text("SELECT has_table_privilege(:t, 'UPDATE')"), {"t": t}).scalar()]
    return f"LOCK TABLE {', '.join(lockable)} IN SHARE UPDATE EXCLUSIVE MODE" if lockable else None


def execute_with_lock_retries(sql: str, *, squawk: Ignore | None = None) -> None:
    """Run one DDL statement under lock_timeout with bounded retries (offline: render it)."""
    statement = ignore_comment(squawk) + sql
    if runtime.offline():
        op.execute(text(statement))
        return

    conn = op.get_bind()
    # Looked up once, not on every retry; only inside a transaction can the lock outlive LOCK TABLE.
    fence = _autovacuum_fence(conn, sql) if conn.in_transaction() and not runtime.in_autocommit(conn) else None

    def attempt(conn):
        if fence:
            conn.execute(text(fence))
        conn.execute(text(statement))

    with_lock_retries(attempt, " ".join(sql.split())[:160])


def _setting(conn, name: str) -> str:
    return conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar()


def add_column(table: str, column_sql: str, schema: str = "public", *, squawk: Ignore | None = None) -> None:
    """ADD COLUMN IF NOT EXISTS. Keep defaults constant: a volatile one rewrites the table."""
    execute_with_lock_retries(
        f"ALTER TABLE {qualified(schema, table)} ADD COLUMN IF NOT EXISTS {column_sql}", squawk=squawk
    )


def drop_column(table: str, column: str, schema: str = "public") -> None:
    execute_with_lock_retries(f"ALTER TABLE {qualified(schema, table)} DROP COLUMN IF EXISTS {ident(column)}")


def add_foreign_key(
    name: str,
    table: str,
    columns: list[str],
    referred: str,
    referred_columns: list[str],
    *,
    ondelete: str | None = None,
    schema: str = "public",
) -> None:
    """Add NOT VALID (brief lock on both tables), then VALIDATE (no write lock)."""
    cols = ", ".join(ident(c) for c in columns)
    ref_cols = ", ".join(ident(c) for c in referred_columns)
    on_delete = f" ON DELETE {ondelete}" if ondelete else ""
    _add_constraint_if_missing(
        name,
        table,
        f"FOREIGN KEY ({cols}) REFERENCES {referred} ({ref_cols}){on_delete} NOT VALID",
        schema,
    )
    validate_constraint(name, table, schema)


def add_check(name: str, table: str, condition: str, schema: str = "public") -> None:
    _add_constraint_if_missing(name, table, f"CHECK ({condition}) NOT VALID", schema)
    validate_constraint(name, table, schema)


def add_primary_key(name: str, table: str, columns: list[str], schema: str = "public") -> None:
    """For a table loaded before its keys: the index is built once, after the load.

    Loading into a table that already has a primary key on random uuids inserts every row
    into the btree as well, about half the load speed (benchmarks/events_backfill.py).
    Only for tables the application does not use yet: this takes an ACCESS EXCLUSIVE lock.
    """
    cols = ", ".join(ident(c) for c in columns)
    _add_constraint_if_missing(name, table, f"PRIMARY KEY ({cols})", schema)


def _add_constraint_if_missing(name: str, table: str, definition: str, schema: str) -> None:
    if runtime.offline():
        op.execute(
            text(
                f"""DO $c$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = {literal(name)}
                 AND conrelid = to_regclass({literal(qualified(schema, table))})) THEN
    ALTER TABLE {qualified(schema, table)} ADD CONSTRAINT {ident(name)} {definition};
  END IF;
END
$c$"""
            )
        )
        return
    if not constraint_exists(name, table, schema):
        execute_with_lock_retries(f"ALTER TABLE {qualified(schema, table)} ADD CONSTRAINT {ident(name)} {definition}")


def constraint_exists(name: str, table: str, schema: str = "public") -> bool:
    return bool(
        op.get_bind()
        .execute(
            text("SELECT 1 FROM pg_constraint WHERE conname = :n AND conrelid = to_regclass(:t)"),
            {"n": name, "t": qualified(schema, table)},
        )
        .first()
    )


def validate_constraint(name: str, table: str, schema: str = "public") -> None:
    """VALIDATE in a transaction of its own: the ADD ... NOT VALID lock is released before the scan."""
    with runtime.outside_transaction():
        execute_with_lock_retries(
            f"ALTER TABLE {qualified(schema, table)} VALIDATE CONSTRAINT {ident(name)}",
            squawk=("prefer-robust-stmts", "VALIDATE is idempotent; it runs outside a transaction on purpose"),
        )


def drop_constraint(name: str, table: str, schema: str = "public", *, squawk: Ignore | None = None) -> None:
    execute_with_lock_retries(
        f"ALTER TABLE {qualified(schema, table)} DROP CONSTRAINT IF EXISTS {ident(name)}", squawk=squawk
    )


def set_not_null(table: str, column: str, schema: str = "public") -> None:
    """NOT NULL without a long ACCESS EXCLUSIVE scan: validated CHECK, SET NOT NULL, drop the CHECK."""
    check = f"ck_{table}_{column}_not_null"
    add_check(check, table, f"{ident(column)} IS NOT NULL", schema)
    execute_with_lock_retries(f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {ident(column)} SET NOT NULL")
    drop_constraint(
        check, table, schema, squawk=("ban-drop-constraint", "the CHECK only paved the way: NOT NULL now holds it")
    )


def drop_not_null(table: str, column: str, schema: str = "public") -> None:
    execute_with_lock_retries(f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {ident(column)} DROP NOT NULL")


def set_default(table: str, column: str, default_sql: str | None, schema: str = "public") -> None:
    action = f"SET DEFAULT {default_sql}" if default_sql is not None else "DROP DEFAULT"
    execute_with_lock_retries(f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {ident(column)} {action}")


def create_index(name: str, table: str, definition: str, *, where: str | None = None, schema: str = "public") -> None:
    """CREATE INDEX CONCURRENTLY outside the transaction (plain CREATE INDEX when we cannot leave it).

    `definition` is the column list, e.g. "(created_at DESC)". An INVALID index of the same
    name, left by a build that failed or was killed, is dropped and rebuilt.
    """
    predicate = f" WHERE {where}" if where else ""
    with runtime.outside_transaction() as concurrent:
        if concurrent and not runtime.offline():
            conn = op.get_bind()
            invalid = conn.execute(
                text(
                    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relname = :n AND NOT i.indisvalid"
                ),
                {"s": schema, "n": name},
            ).first()
            if invalid:
                log.warning("dropping invalid index %s left by an earlier failed build", name)
                execute_with_lock_retries(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, name)}")
        keyword = "CONCURRENTLY " if concurrent else ""
        execute_with_lock_retries(
            f"CREATE INDEX {keyword}IF NOT EXISTS {ident(name)} ON {qualified(schema, table)} {definition}{predicate}"
        )


def drop_index(name: str, schema: str = "public") -> None:
    with runtime.outside_transaction() as concurrent:
        keyword = "CONCURRENTLY " if concurrent else ""
        execute_with_lock_retries(f"DROP INDEX {keyword}IF EXISTS {qualified(schema, name)}")

"""The migration lock (DESIGN.md rule 4) and the session timeouts every migrator sets.

Alembic has no lock of its own against two concurrent upgrades. We hold a
session-level advisory lock for the whole run: a transaction-level one would be
released by the commit inside `autocommit_block`. The wait for it is bounded
(`-x lock_wait`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection

from taptik_models.errors import MigrationLockTimeout

# b"taptikdb" read as a signed bigint; pg_locks shows it as classid (high) / objid (low).
MIGRATION_LOCK_KEY = int.from_bytes(b"taptikdb", "big", signed=True)


def _set(connection: Connection, name: str, value: str) -> None:
    connection.execute(text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value})


def lock_holder(connection: Connection) -> dict | None:
    """The backend holding the migration lock (pid, user, application, since), or None."""
    row = (
        connection.execute(
            text(
                """
            SELECT a.pid, a.usename AS user, a.application_name AS application,
                   a.client_addr::text AS client, a.backend_start AS since, a.state
            FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid)
            """
            ),
            {"hi": (MIGRATION_LOCK_KEY >> 32) & 0xFFFFFFFF, "lo": MIGRATION_LOCK_KEY & 0xFFFFFFFF},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


@contextlib.contextmanager
def migration_lock(connection: Connection, wait_seconds: float, *, commit: bool = True) -> Iterator[None]:
    """Hold the migration advisory lock for the block, waiting at most `wait_seconds` for it.

    The wait polls `pg_try_advisory_lock` between transactions instead of blocking in
    `pg_advisory_lock`: a blocked statement holds a snapshot, and the lock holder's
    CREATE INDEX CONCURRENTLY waits for every such snapshot, a deadlock.

    With `commit=False` the caller owns the transaction (pytest-alembic hands one in): we
    neither commit nor roll back, and release the lock inside that transaction.
    """
    deadline = time.monotonic() + wait_seconds
    pause = 0.05
    while not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}).scalar():
        holder = lock_holder(connection)
        if commit:
            connection.commit()
        if time.monotonic() >= deadline:
            raise MigrationLockTimeout(_describe_wait(wait_seconds, holder))
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    if commit:
        connection.commit()
    try:
        yield
    finally:
        if commit and connection.in_transaction():
            connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        if commit:
            connection.commit()


def _describe_wait(wait_seconds: float, holder: dict | None) -> str:
    who = (
        f"held by backend pid {holder['pid']} ({holder['user']}, "
        f"application {holder['application'] or '-'}, "
        f"connected since {holder['since']:%Y-%m-%d %H:%M:%S%z})"
        if holder
        else "its holder has just released it"
    )
    return (
        f"waited {wait_seconds:g} s for the taptik migration lock "
        f"(pg_advisory_lock({MIGRATION_LOCK_KEY})), {who}; "
        "another migration is running: retry when it ends, or raise -x lock_wait=SECONDS"
    )


def set_migration_timeouts(
    connection: Connection, lock_timeout: str, statement_timeout: str, *, commit: bool = True
) -> None:
    """Session timeouts for the migrator's own statements (kept across its transactions)."""
    _set(connection, "lock_timeout", lock_timeout)
    _set(connection, "statement_timeout", statement_timeout)
    if commit:
        connection.commit()

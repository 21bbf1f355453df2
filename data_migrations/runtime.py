"""How the running migration may use its connection: commit per batch, build indexes concurrently.

env.py tells the MigrationContext (option `taptik_owns_transactions`) whether it owns
the connection's transactions. It does not when a caller hands in a connection that is
already inside a transaction (pytest-alembic's round-trip checks): then every step runs
inside that transaction, batches without commits and indexes without CONCURRENTLY.
In offline (`--sql`) mode, data steps render as single set-based statements.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from alembic import op


def offline() -> bool:
    return op.get_context().as_sql


def owns_transactions() -> bool:
    """True when steps may commit: online, and the transaction is ours."""
    ctx = op.get_context()
    return not ctx.as_sql and bool(ctx.opts.get("taptik_owns_transactions", False))


def in_autocommit(connection) -> bool:
    """Inside autocommit_block SQLAlchemy still reports a transaction; the driver knows better."""
    return bool(getattr(connection.connection.dbapi_connection, "autocommit", False))


@contextlib.contextmanager
def outside_transaction() -> Iterator[bool]:
    """Alembic's autocommit_block when we own the transaction; yields whether it is in effect.

    Offline it renders as COMMIT ... BEGIN around the block, as Alembic does.
    """
    if offline() or owns_transactions():
        with op.get_context().autocommit_block():
            yield True
    else:
        yield False

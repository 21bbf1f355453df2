"""What alembic/env.py needs beyond Alembic itself: which database, how to connect, what to check.

Kept out of env.py so that env.py reads as Alembic's template does, and so the CLI
(deploy, status) connects exactly the way migrations do.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from taptik_models.errors import ConfigError, DatabaseUnavailable
from taptik_models.settings import load_settings, normalize_database_url, redact_url

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "taptik-migrator"  # how `taptik-db status` and tests recognise a migrator


@dataclass(frozen=True)
class MigrationOptions:
    """The `-x key=value` options env.py understands."""

    db_url: str | None = None
    lock_timeout: str = "2s"
    statement_timeout: str = "30min"
    lock_wait: float = 600.0
    batch_rows: int | None = None
    batch_pause: float = 0.0

    @classmethod
    def from_x_arguments(cls, x: dict[str, str]) -> MigrationOptions:
        known = {"db_url", "lock_timeout", "statement_timeout", "lock_wait", "batch_rows", "batch_pause"}
        unknown = sorted(set(x) - known)
        if unknown:
            raise ConfigError(f"unknown -x option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        lock_wait = _seconds(x, "lock_wait", cls.lock_wait)
        batch_pause = _seconds(x, "batch_pause", cls.batch_pause)
        batch_rows = x.get("batch_rows")
        if batch_rows is not None and not (batch_rows.isdigit() and int(batch_rows) > 0):
            raise ConfigError(f"-x batch_rows must be a positive whole number, got {batch_rows!r}")
        return cls(
            db_url=x.get("db_url") or None,
            lock_timeout=_duration(x, "lock_timeout", cls.lock_timeout),
            statement_timeout=_duration(x, "statement_timeout", cls.statement_timeout),
            lock_wait=lock_wait,
            batch_rows=int(batch_rows) if batch_rows else None,
            batch_pause=batch_pause,
        )


_DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


def _duration(x: dict[str, str], name: str, default: str) -> str:
    """A PostgreSQL duration such as 2s, 500ms or 30min (it ends up in a SET statement)."""
    value = x.get(name, default).strip()
    if not _DURATION.match(value):
        raise ConfigError(f"-x {name} must be a duration such as 500ms, 2s or 30min, got {value!r}")
    return value


def _seconds(x: dict[str, str], name: str, default: float) -> float:
    try:
        value = float(x.get(name, default))
    except ValueError:
        raise ConfigError(f"-x {name} must be a number of seconds, got {x[name]!r}") from None
    if value < 0:
        raise ConfigError(f"-x {name} must not be negative")
    return value


def resolve_url(explicit: str | None, ini_url: str | None, *, start_local: bool = True) -> str | None:
    """-x db_url, then alembic.ini's sqlalchemy.url, then DATABASE_URL, else the embedded database.

    Returns None only when nothing is configured and `start_local` is False (offline mode).
    """
    for candidate in (explicit, ini_url):
        if candidate:
            return normalize_database_url(candidate)
    settings = load_settings()
    if settings.database_url:
        return settings.database_url
    if not start_local:
        return None
    return local_database_url(announce=True)


def local_database_url(*, announce: bool = False) -> str:
    """Start the embedded database if needed and return its migrator URL."""
    from storage_tasks.local_db import LocalDatabase

    local = LocalDatabase(load_settings().home)
    was_running = local.is_running()
    local.start()
    url = local.url()
    if announce:
        verb = "using" if was_running else "started"
        print(
            f"taptik: {verb} embedded PostgreSQL in {local.pgdata} at {url.render_as_string(hide_password=True)}",
            file=sys.stderr,
        )
    return url.render_as_string(hide_password=False)


def create_engine(url: str) -> Engine:
    return sa.create_engine(
        url,
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": APPLICATION_NAME},
    )


def describe_connect_error(url: str, exc: DBAPIError) -> str:
    """One line saying why we could not connect, with no password in it."""
    lines = [line.strip() for line in str(exc.orig).splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc.orig).__name__
    reason = reason.removeprefix("connection failed: ")
    password = make_url(url).password
    if password:
        reason = reason.replace(str(password), "***")
    return f"cannot connect to {redact_url(url)}: {reason}"


@contextlib.contextmanager
def connect(url: str) -> Iterator[Connection]:
    """A connection, or DatabaseUnavailable with one clear line."""
    engine = create_engine(url)
    try:
        try:
            connection = engine.connect()
        except OperationalError as exc:
            raise DatabaseUnavailable(describe_connect_error(url, exc)) from None
        with connection:
            yield connection
    finally:
        engine.dispose()

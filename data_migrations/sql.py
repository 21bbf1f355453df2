"""Quoting for the few statements we must build as text (DO blocks, DDL on names)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()


def ident(name: str) -> str:
    """A quoted SQL identifier (only where quoting is needed, as PostgreSQL prints them)."""
    return _DIALECT.identifier_preparer.quote(name)


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


def literal(value: str) -> str:
    """A string literal, escaped by SQLAlchemy's own literal rendering."""
    return str(sa.literal(value).compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))

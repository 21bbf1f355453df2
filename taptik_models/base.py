"""The declarative base, its naming convention, and the Supabase tables models may reference."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

# Revisions name their constraints by hand with this same convention (STYLE.md rule 4).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Owned by Supabase, never by this project: declared only so foreign keys resolve.
# env.py's include_object keeps autogenerate away from every schema but public.
auth_users = sa.Table(
    "users",
    Base.metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    schema="auth",
)

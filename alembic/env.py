"""Alembic environment for taptik-migrations.

Resolves the database (-x db_url, sqlalchemy.url, DATABASE_URL, else the embedded
local PostgreSQL), refuses one without the Supabase environment, holds the migration
advisory lock for the whole run, sets the migrator's timeouts, then runs Alembic.
"""

from __future__ import annotations

import contextlib
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError
from alembic_utils.replaceable_entity import register_entities

from data_migrations.locks import migration_lock, set_migration_timeouts
from storage_tasks import migrator
from storage_tasks.checksums import record_applied
from storage_tasks.revision_naming import number_new_revisions
from taptik_models import autogen_plugin, supabase_env
from taptik_models.compare_scope import include_name, include_object
from taptik_models.errors import TaptikError
from taptik_models.models import POLICIES, metadata
from taptik_models.settings import redact_url

config = context.config
if config.config_file_name and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

autogen_plugin.install()
register_entities(POLICIES, schemas=["public"], entity_types=[type(POLICIES[0])])


COMMON = dict(
    target_metadata=metadata,
    include_name=include_name,
    include_object=include_object,
    compare_type=True,
    transaction_per_migration=True,
    process_revision_directives=number_new_revisions,
    autogenerate_plugins=autogen_plugin.AUTOGENERATE_PLUGINS,
    on_version_apply=[record_applied],
)


def run_offline(options: migrator.MigrationOptions) -> None:
    url = migrator.resolve_url(options.db_url, config.get_main_option("sqlalchemy.url"), start_local=False)
    context.configure(
        url=url or "postgresql+psycopg://",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **COMMON,
    )
    # The timeouts online runs set on their session, so reviewed SQL runs under the same limits.
    context.execute(f"SET lock_timeout = '{options.lock_timeout}'")
    context.execute(f"SET statement_timeout = '{options.statement_timeout}'")
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection, options: migrator.MigrationOptions, where: str) -> None:
    owns_transactions = not connection.in_transaction()  # else the caller's (pytest-alembic)
    supabase_env.require(connection, where)
    if owns_transactions:
        connection.commit()
    with migration_lock(connection, options.lock_wait, commit=owns_transactions):
        set_migration_timeouts(connection, options.lock_timeout, options.statement_timeout, commit=owns_transactions)
        context.configure(
            connection=connection,
            taptik_owns_transactions=owns_transactions,
            taptik_batch_rows=options.batch_rows,
            taptik_batch_pause=options.batch_pause,
            **COMMON,
        )
        with context.begin_transaction():
            context.run_migrations()


def main() -> None:
    options = migrator.MigrationOptions.from_x_arguments(context.get_x_argument(as_dictionary=True))
    if context.is_offline_mode():
        run_offline(options)
        return
    given = config.attributes.get("connection")  # pytest-alembic and the CLI hand one in
    if given is not None:
        with contextlib.nullcontext(given) if isinstance(given, sa.Connection) else given.connect() as conn:
            run_online(conn, options, redact_url(conn.engine.url))
        return
    url = migrator.resolve_url(options.db_url, config.get_main_option("sqlalchemy.url"))
    with migrator.connect(url) as connection:
        run_online(connection, options, redact_url(url))


try:
    main()
except TaptikError as exc:
    raise CommandError(str(exc)) from None

"""`taptik-db local ...`: manage the embedded PostgreSQL by hand."""

from __future__ import annotations

import click

from storage_tasks.local_db import LocalDatabase
from storage_tasks.output import emit
from taptik_models.settings import load_settings


def _local() -> LocalDatabase:
    return LocalDatabase(load_settings().home)


@click.group()
def local() -> None:
    """The embedded local PostgreSQL used when DATABASE_URL is unset.

    Its data lives in .taptik/ of the project (or $TAPTIK_HOME) and it keeps running
    between commands until `taptik-db local stop`.
    """


@local.command()
def start() -> None:
    """Initialise (first time) and start the embedded database, with the Supabase environment."""
    db = _local()
    db.start()
    click.echo(f"running: {db.pgdata}")
    click.echo(db.url().render_as_string(hide_password=True))


@local.command()
def stop() -> None:
    """Stop the embedded database (its data stays in place)."""
    click.echo("stopped" if _local().stop() else "not running")


@local.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Whether the embedded database exists and runs, where, on which port."""
    st = _local().status()
    data = {
        "home": str(st.home),
        "initialized": st.initialized,
        "running": st.running,
        "pid": st.pid,
        "port": st.port,
        "postgres_major_version": st.version,
    }
    state = "running" if st.running else ("stopped" if st.initialized else "not initialised")
    human = f"{state}: {st.home / 'pgdata'}"
    if st.running:
        human += f" (pid {st.pid}, 127.0.0.1:{st.port}, PostgreSQL {st.version})"
    emit(data, as_json, human)


@local.command()
@click.option("--show-password", is_flag=True, help="Print the password instead of ***.")
@click.option("--superuser", is_flag=True, help="The supabase_admin URL instead of the migrator's.")
@click.option("--libpq", is_flag=True, help="postgresql:// form for psql and other libpq tools.")
def url(show_password: bool, superuser: bool, libpq: bool) -> None:
    """The embedded database's URL (password hidden unless --show-password)."""
    u = _local().url(superuser=superuser)
    if libpq:
        u = u.set(drivername="postgresql")
    click.echo(u.render_as_string(hide_password=not show_password))


@local.command("install-env")
@click.option("--database-url", required=True, help="A database to prepare; needs a superuser.")
def install_env(database_url: str) -> None:
    """Install the local copy of the Supabase environment into another database.

    For a plain PostgreSQL you want to migrate like a Supabase project. Refused on a
    database that already has the environment: Supabase's own objects are never altered.
    """
    from storage_tasks.migrator import connect
    from taptik_models import supabase_env
    from taptik_models.errors import ConfigError
    from taptik_models.settings import normalize_database_url, redact_url

    target = normalize_database_url(database_url)
    with connect(target) as conn:
        if not supabase_env.missing(conn):
            raise ConfigError(f"{redact_url(target)} already has the Supabase environment; nothing changed")
        conn.commit()
        supabase_env.apply(conn.connection.dbapi_connection)
    click.echo(f"installed the Supabase environment into {redact_url(target)}")

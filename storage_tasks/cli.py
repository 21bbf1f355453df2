"""The `taptik-db` command line. Each command parses, calls one task function, prints the result."""

from __future__ import annotations

import sys

import click

from taptik_models.errors import TaptikError


class TaptikGroup(click.Group):
    """Turns TaptikError into one line on stderr and its exit code (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TaptikError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"taptik-db: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=TaptikGroup)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """taptik-db: what Alembic cannot express for taptik's Supabase project.

    The embedded local PostgreSQL (`local`), files in storage and on disk, and deploys.
    Database commands use DATABASE_URL, or the embedded database when it is unset.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


from storage_tasks.local_cli import local  # noqa: E402  (registration after the group exists)

main.add_command(local)

from storage_tasks.storage_cli import COMMANDS  # noqa: E402

for command in COMMANDS:
    main.add_command(command)

from storage_tasks.ops_cli import COMMANDS as OPS_COMMANDS  # noqa: E402

for command in OPS_COMMANDS:
    main.add_command(command)

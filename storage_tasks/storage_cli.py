"""`taptik-db export | upload | orphans | verify | migrate-platform`: files in storage and on disk.

Each command parses its options, calls one task function, and prints the result
(human text, or JSON with --json). Exit code 0 only when everything went well.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import click

from storage_tasks.output import emit
from storage_tasks.progress import progress_bar

STORAGE_HELP = (
    "Object store URL: file:///dir, s3://bucket or supabase://bucket "
    "(default: $TAPTIK_STORAGE, else .taptik/storage/taptik-packages)."
)
DATABASE_HELP = "Database URL (default: $DATABASE_URL, else the embedded database)."
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Duration(click.ParamType):
    """`90s`, `30m`, `24h`, `7d`, `2w` (a bare number is seconds)."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration such as 90s, 30m, 24h or 7d", param, ctx)
        return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


def storage_option(fn):
    return click.option("--storage", "storage_url", metavar="URL", help=STORAGE_HELP)(fn)


def database_option(fn):
    return click.option("--database-url", metavar="URL", help=DATABASE_HELP)(fn)


def json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")(fn)


def _finish(ok: bool) -> None:
    if not ok:
        raise click.exceptions.Exit(1)


@click.command()
@click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    default="~/.taptik/packages",
    show_default=True,
    help="Folder holding the *.taptik package files.",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default="taptik-manifest.json",
    show_default=True,
    help="Where to write the manifest.",
)
@json_option
def export(source: Path, manifest: Path, as_json: bool) -> None:
    """Describe local package files in a manifest for `taptik-db upload`.

    For each SOURCE/*.taptik: path, name, platform, size, sha256, and metadata read
    from the JSON package. Files that are empty, binary, not UTF-8 or not JSON get
    their name and platform from the file name and are reported as warnings.
    """
    from storage_tasks.export import export_packages

    with progress_bar("hashing packages") as update:
        result = export_packages(source, manifest, progress=update)
    lines = [f"wrote {result.manifest}: {len(result.packages)} package(s)"]
    lines += [f"warning: {w}" for w in result.warnings]
    data = {"manifest": str(result.manifest), "packages": [asdict(p) for p in result.packages]}
    emit(data, as_json, "\n".join(lines))


@click.command()
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="A manifest written by `taptik-db export`.",
)
@click.option("--user-id", required=True, help="The owner's id in auth.users (UUID).")
@click.option("--public", is_flag=True, help="Make the packages public.")
@click.option("--remove-local", is_flag=True, help="Delete each local file once stored, verified and recorded.")
@click.option("--force", is_flag=True, help="Upload and record even checksums this user already has.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel uploads.")
@click.option("--dry-run", is_flag=True, help="Show what would be uploaded; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@storage_option
@database_option
@json_option
def upload(
    manifest: Path,
    user_id: str,
    public: bool,
    remove_local: bool,
    force: bool,
    concurrency: int,
    dry_run: bool,
    yes: bool,
    storage_url: str | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Upload the manifest's packages to storage and record them in taptik_packages.

    Object keys are <user_id>/<sha256>.taptik. Packages whose checksum this user already
    has are skipped (unless --force). Each file is stored, verified (size, sha256), then
    its row is inserted; --remove-local deletes a local file only after all of that.
    Running again after a failure finishes the job without duplicates.
    """
    from storage_tasks.upload import upload_packages

    def confirm(outcomes) -> bool:
        planned = sum(o.status == "planned" for o in outcomes)
        return yes or click.confirm(f"upload {planned} package(s) for user {user_id}?", err=True, abort=True)

    with progress_bar("uploading") as update:
        result = upload_packages(
            manifest,
            user_id,
            storage_url=storage_url,
            database_url=database_url,
            public=public,
            remove_local=remove_local,
            force=force,
            concurrency=concurrency,
            dry_run=dry_run,
            confirm=confirm,
            progress=update,
        )
    lines = [f"{o.status}: {o.name} -> {o.key}" + (f" ({o.detail})" if o.detail else "") for o in result.outcomes]
    counts = {s: len(result.by_status(s)) for s in ("uploaded", "skipped", "failed", "planned")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s != "planned")
    lines.append(("dry run: " if dry_run else "") + f"{summary} to {result.store}")
    lines += [f"removed local file: {p}" for p in result.removed_local]
    emit(asdict(result) | {"counts": counts, "ok": result.ok}, as_json, "\n".join(lines))
    _finish(result.ok)


@click.command()
@click.option(
    "--older-than",
    type=Duration(),
    default="24h",
    show_default=True,
    help="Grace period: only objects older than this are deleted (e.g. 90m, 24h, 7d).",
)
@click.option("--delete", is_flag=True, help="Delete the orphans older than the grace period.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation before deleting.")
@click.option("--dry-run", is_flag=True, help="With --delete: show what would be deleted; delete nothing.")
@storage_option
@database_option
@json_option
def orphans(
    older_than: timedelta,
    delete: bool,
    yes: bool,
    dry_run: bool,
    storage_url: str | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """List objects in storage that no package or package version references.

    Scans every object of the store. Lists by default; --delete removes (in batches of
    at most 1,000) only orphans older than --older-than, since an upload stores its
    file a moment before it inserts the row.
    """
    from storage_tasks.orphans import find_orphans

    def confirm(victims) -> bool:
        return yes or click.confirm(f"delete {len(victims)} orphaned object(s)?", err=True, abort=True)

    with progress_bar("scanning storage") as update:
        report = find_orphans(
            storage_url=storage_url,
            database_url=database_url,
            older_than=older_than,
            delete=delete,
            dry_run=dry_run,
            confirm=confirm,
            progress=update,
        )
    deletable = {o.key for o in report.deletable}
    lines = [
        f"orphan: {o.key} ({o.size} bytes, {o.last_modified:%Y-%m-%d %H:%M}"
        + ("" if o.key in deletable else ", within the grace period")
        + ")"
        for o in report.orphans
    ]
    lines += [f"failed to delete {k}: {e}" for k, e in report.failed.items()]
    lines.append(
        f"scanned {report.scanned} object(s) against {report.referenced} reference(s): "
        f"{len(report.orphans)} orphan(s), {len(deletable)} past the grace period, "
        + (f"{len(deletable)} would be deleted (dry run)" if dry_run and delete else f"{len(report.deleted)} deleted")
    )
    data = asdict(report) | {"deletable": sorted(deletable), "ok": report.ok}
    emit(data, as_json, "\n".join(lines))
    _finish(report.ok)


@click.command()
@click.option("--storage", "check_storage", is_flag=True, help="Check each row's object exists with its size.")
@click.option("--checksums", is_flag=True, help="Also download each object and compare its sha256 (implies --storage).")
@click.option("--storage-url", metavar="URL", help=STORAGE_HELP)
@database_option
@json_option
def verify(
    check_storage: bool, checksums: bool, storage_url: str | None, database_url: str | None, as_json: bool
) -> None:
    """Check the database (and storage) is consistent; exit 1 if any check fails.

    Alembic at head; tables, indexes and constraints as the models declare them;
    required fields (config_id, user_id, name, checksum, storage_url) not null; every
    package's user exists. With --storage: every storage_url exists in storage with the
    recorded file_size (no downloads); with --checksums: and the recorded sha256.
    """
    from storage_tasks.verify import verify as run_verify

    with progress_bar("checking objects") as update:
        report = run_verify(
            database_url=database_url,
            storage=check_storage,
            checksums=checksums,
            storage_url=storage_url,
            progress=update,
        )
    lines = [f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.details}" for c in report.checks]
    emit({"ok": report.ok, "checks": [asdict(c) for c in report.checks]}, as_json, "\n".join(lines))
    _finish(report.ok)


@click.command("migrate-platform")
@click.option("--from", "source", required=True, metavar="PLATFORM", help="Platform to copy from.")
@click.option("--to", "target", required=True, metavar="PLATFORM", help="Platform to copy to.")
@click.option("--dry-run", is_flag=True, help="Transform and report; store and insert nothing.")
@storage_option
@database_option
@json_option
def migrate_platform(
    source: str, target: str, dry_run: bool, storage_url: str | None, database_url: str | None, as_json: bool
) -> None:
    """Copy every package of one platform to a new package `<name>_<to>` for another.

    Settings are renamed, secrets (keys like api_key, token, secret, password) removed,
    keybindings mapped. Packages that already have their copy are skipped, so running
    it twice creates nothing new. Pairs: claude-code -> cursor, kiro, vim;
    cursor -> claude-code, kiro.
    """
    from storage_tasks.migrate_platform import migrate_platform as run

    with progress_bar(f"{source} -> {target}") as update:
        result = run(
            source,
            target,
            database_url=database_url,
            storage_url=storage_url,
            dry_run=dry_run,
            progress=update,
        )
    lines = [f"{c.status}: {c.name}" + (f" ({c.detail})" if c.detail else "") for c in result.copies]
    counts = {s: len(result.by_status(s)) for s in ("created", "planned", "skipped", "failed")}
    lines.append(("dry run: " if dry_run else "") + ", ".join(f"{n} {s}" for s, n in counts.items()))
    emit(asdict(result) | {"counts": counts, "ok": result.ok}, as_json, "\n".join(lines))
    _finish(result.ok)


COMMANDS = [export, upload, orphans, verify, migrate_platform]

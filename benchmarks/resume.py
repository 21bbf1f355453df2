"""Issue 4, benchmark 5: SIGKILL the migrator halfway through the events backfill, rerun, compare.

v1 with N packages and about D counted downloads, migrated to 0003, then cloned (CREATE
DATABASE ... TEMPLATE) into a second, identical database on the same server:
- A: `alembic upgrade head` uninterrupted;
- B: `alembic upgrade head`, SIGKILL once the 0004 checkpoint shows at least half the events
  done (rows_done >= D/2, finished_at null), then `alembic upgrade head` again.
Both final package_analytics are compared: row count, a content hash over
(package_id, event_type, metadata, created_at) sorted (ids are random), and duplicates
(packages whose migrated events differ from their download_count).

    python benchmarks/resume.py [--packages 100000] [--downloads 1000000] [--batch-rows 5000]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg

STEP = "download events from download_count"
CLONE = "bench_resume_b"

SUMMARY = """
SELECT count(*),
       md5(string_agg(row_text, E'\\n' ORDER BY row_text)),
       count(DISTINCT package_id)
FROM (
  SELECT package_id,
         package_id::text || '|' || event_type || '|' || coalesce(metadata::text, '') || '|' || created_at::text
           AS row_text
  FROM public.package_analytics
) e
"""
MISMATCHED = """
SELECT count(*) FROM public.taptik_packages p
LEFT JOIN (SELECT package_id, count(*) AS n FROM public.package_analytics
           WHERE metadata @> '{"migrated": true}' GROUP BY package_id) e ON e.package_id = p.id
WHERE coalesce(e.n, 0) <> p.download_count
"""


def summary(srv: _pg.Server, database: str | None) -> dict:
    with _pg.connect(srv.conninfo(admin=True, database=database)) as conn:
        rows, digest, packages = conn.execute(SUMMARY).fetchone()
        (mismatched,) = conn.execute(MISMATCHED).fetchone()
        (expected,) = conn.execute("SELECT coalesce(sum(download_count), 0) FROM public.taptik_packages").fetchone()
        (leftover,) = conn.execute("SELECT count(*) FROM taptik_archive.taptik_migration_progress").fetchone()
        (version,) = conn.execute("SELECT version_num FROM public.alembic_version").fetchone()
    return {
        "rows": rows,
        "hash": digest,
        "packages": packages,
        "mismatched": mismatched,
        "expected": int(expected),
        "checkpoints": leftover,
        "version": version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--downloads", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=5_000)
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of the events done when killed")
    args = parser.parse_args()
    x = f"batch_rows={args.batch_rows}"

    with _pg.server() as srv:
        info = _pg.prepare_v1(srv, args.packages, args.downloads, target="0003")
        print(f"v1 data: {info['packages']:,} packages, {info['downloads']:,} downloads ({_pg.env_line()})")
        with _pg.connect(srv.conninfo(admin=True, database="template1")) as conn:
            conn.execute(f"CREATE DATABASE {CLONE} TEMPLATE postgres OWNER postgres")

        # A: uninterrupted.
        run_a = _pg.upgrade(srv.url, "head", x)
        a = summary(srv, None)

        # B: killed halfway through the events load, then rerun.
        target = int(info["downloads"] * args.kill_at)
        migrator = _pg.Migrator(srv.sa_url(CLONE), "head", x)
        killed_at = None
        with _pg.connect(srv.conninfo(admin=True, database=CLONE)) as conn:
            while migrator.proc.poll() is None:
                row = conn.execute(
                    "SELECT rows_done, finished_at FROM taptik_archive.taptik_migration_progress "
                    "WHERE revision = '0004' AND step = %s",
                    (STEP,),
                ).fetchone() if conn.execute(
                    "SELECT to_regclass('taptik_archive.taptik_migration_progress') IS NOT NULL"
                ).fetchone()[0] else None  # fmt: skip
                if row and row[0] >= target and row[1] is None:
                    os.kill(migrator.pid, signal.SIGKILL)
                    killed_at = row[0]
                    break
                time.sleep(0.02)
        first = migrator.wait(check=False)
        if killed_at is None:
            raise SystemExit("the migrator finished before it could be killed; use more packages")
        time.sleep(1.0)  # let the orphaned backend finish (or abort) its last statement
        with _pg.connect(srv.conninfo(admin=True, database=CLONE)) as conn:
            (events_after_kill,) = conn.execute("SELECT count(*) FROM public.package_analytics").fetchone()
            (checkpoint_rows,) = conn.execute(
                "SELECT rows_done FROM taptik_archive.taptik_migration_progress WHERE revision = '0004' AND step = %s",
                (STEP,),
            ).fetchone()
        rerun = _pg.upgrade(srv.sa_url(CLONE), "head", x)
        b = summary(srv, CLONE)

    resumed = [line for _, line in rerun.lines if "resuming after key" in line]
    print(
        f"\nB: SIGKILL at rows_done={killed_at:,} of {info['downloads']:,} (exit {first.returncode}); "
        f"after the kill: {events_after_kill:,} events in the table, checkpoint rows_done={checkpoint_rows:,}"
    )
    print(f"B rerun log: {resumed[0].split('] ', 1)[-1] if resumed else '(no resume line)'}")
    rerun_events = _pg.step_results(rerun).get(f"0004 {STEP}")
    if rerun_events:
        print(f"B rerun loaded the remaining {rerun_events[1]:,} events in {rerun_events[2]:.1f} s")
    print(f"A uninterrupted: {run_a.seconds:.1f} s; B rerun: {rerun.seconds:.1f} s\n")
    _pg.print_table(
        ["package_analytics", "rows", "content hash", "packages", "≠ download_count", "checkpoints left", "at"],
        [
            ["A uninterrupted", f"{a['rows']:,}", a["hash"], f"{a['packages']:,}", a["mismatched"], a["checkpoints"],
             a["version"]],
            ["B killed + rerun", f"{b['rows']:,}", b["hash"], f"{b['packages']:,}", b["mismatched"], b["checkpoints"],
             b["version"]],
        ],
    )  # fmt: skip
    identical = a["rows"] == b["rows"] == a["expected"] and a["hash"] == b["hash"]
    no_dupes = a["mismatched"] == 0 and b["mismatched"] == 0
    ok = identical and no_dupes and events_after_kill == checkpoint_rows
    print(f"\nexpected events (sum of download_count): {a['expected']:,}")
    print(f"checkpoint == committed events after the kill: {events_after_kill == checkpoint_rows}")
    print(f"target: identical to the uninterrupted run, no duplicate events -> {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()

"""Orphan scan on the file backend: N objects against N rows (1% of objects orphaned).

    python benchmarks/orphan_scan.py [--objects 1000000]

Prints the seconds of the scan (references streamed from the database + every object
listed) and the process's peak memory before and after it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import add_user, migrated_database, peak_rss_mb, print_table, stop_database

FOLDERS = 1000


def key(i: int) -> str:
    return f"u{i % FOLDERS:04d}/{i:08d}.taptik"


def make_objects(root: Path, n: int) -> None:
    for f in range(min(n, FOLDERS)):
        (root / f"u{f:04d}").mkdir(parents=True)
    for i in range(n):
        fd = os.open(root / key(i), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"{}")
        os.close(fd)


def make_rows(url: str, user_id: str, n: int) -> None:
    """n rows, one set-based INSERT; each references object i, except every 100th, which references
    a key with no object (so 1% of objects are orphans and 1% of rows dangle)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO taptik_packages (user_id, name, config_id, checksum, storage_url, file_size) "
                "SELECT CAST(:u AS uuid), 'p' || i, md5(i::text), md5(i::text), "
                "CASE WHEN i % 100 = 0 THEN 'gone/' || i "
                "ELSE format('u%s/%s.taptik', lpad((i % :f)::text, 4, '0'), lpad(i::text, 8, '0')) END, 2 "
                "FROM generate_series(0, :n - 1) AS i"
            ),
            {"u": user_id, "n": n, "f": FOLDERS},
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.objects
    from storage_tasks.orphans import find_orphans

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            url, admin_url = migrated_database(tmp / "db")
            user_id = add_user(admin_url)
            t = time.perf_counter()
            make_objects(tmp / "bucket", n)
            make_rows(url, user_id, n)
            setup_s = time.perf_counter() - t
            before = peak_rss_mb()
            t = time.perf_counter()
            report = find_orphans(storage_url=(tmp / "bucket").as_uri(), database_url=url, older_than=timedelta(0))
            scan_s = time.perf_counter() - t
            after = peak_rss_mb()
        finally:
            stop_database(tmp / "db")
    assert report.scanned == n and len(report.orphans) == len(range(0, n, 100)), report.scanned
    print(f"file backend, {n} objects in {FOLDERS} folders, {n} rows (setup {setup_s:.0f} s)\n")
    print_table(
        ["objects scanned", "references", "orphans", "scan seconds", "objects/s", "peak RSS before", "peak RSS after"],
        [
            [
                report.scanned,
                report.referenced,
                len(report.orphans),
                f"{scan_s:.1f}",
                f"{n / scan_s:,.0f}",
                f"{before:.0f} MB",
                f"{after:.0f} MB",
            ]
        ],
    )


if __name__ == "__main__":
    main()

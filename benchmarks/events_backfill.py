"""Issue 4, benchmark 1: the historical download events load (revision 0004) against the limit.

v1 with N packages and about D counted downloads, migrated to 0003; then, on the same server:
- project: `alembic upgrade 0004` (a subprocess); the load's own figure comes from the
  batch runner's "done, ... changed in X s" log line, the whole revision from the stamped
  'Running upgrade' lines (load + foreign key + 3 indexes + RLS);
- (a) physical reference: one `INSERT ... SELECT ... generate_series` into an index-free
  copy of package_analytics, then its primary key and the 3 indexes;
- (b) the seed's way: one INSERT per event over a direct connection (autocommit), on a
  sample, into a copy with the same indexes.
Target: project rows/s >= 0.8 x (a).

    python benchmarks/events_backfill.py [--packages 100000] [--downloads 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg

EVENTS = """SELECT p.id, 'download', NULL::uuid, jsonb_build_object('migrated', true), p.created_at
FROM public.taptik_packages p CROSS JOIN LATERAL generate_series(1, p.download_count)
WHERE p.download_count > 0"""


def physical_reference(srv: _pg.Server) -> dict[str, float]:
    timings = {}
    with _pg.connect(srv.conninfo()) as conn:
        conn.execute("DROP TABLE IF EXISTS public.bench_events_physical")
        conn.execute("CREATE TABLE public.bench_events_physical (LIKE public.package_analytics INCLUDING DEFAULTS)")
        _pg.checkpoint(srv)
        t0 = time.monotonic()
        cur = conn.execute(
            "INSERT INTO public.bench_events_physical (package_id, event_type, user_id, metadata, created_at) " + EVENTS
        )
        timings["rows"] = cur.rowcount
        t1 = time.monotonic()
        conn.execute("ALTER TABLE public.bench_events_physical ADD PRIMARY KEY (id)")
        conn.execute("CREATE INDEX ON public.bench_events_physical (package_id)")
        conn.execute("CREATE INDEX ON public.bench_events_physical (event_type)")
        conn.execute("CREATE INDEX ON public.bench_events_physical (created_at DESC)")
        t2 = time.monotonic()
        timings["load_s"], timings["index_s"], timings["total_s"] = t1 - t0, t2 - t1, t2 - t0
        conn.execute("DROP TABLE public.bench_events_physical")
        # For the diagnosis: the same single statement into a copy that has the primary key
        # during the load, as 0004's table does (random uuids into a btree).
        conn.execute("CREATE TABLE public.bench_events_pk (LIKE public.package_analytics INCLUDING DEFAULTS)")
        conn.execute("ALTER TABLE public.bench_events_pk ADD PRIMARY KEY (id)")
        _pg.checkpoint(srv)
        t0 = time.monotonic()
        conn.execute(
            "INSERT INTO public.bench_events_pk (package_id, event_type, user_id, metadata, created_at) " + EVENTS
        )
        timings["pk_load_s"] = time.monotonic() - t0
        conn.execute("DROP TABLE public.bench_events_pk")
    return timings


def row_by_row_reference(srv: _pg.Server, sample: int) -> dict[str, float]:
    """One INSERT statement (and round trip, and commit) per event, as the seed's script did."""
    with _pg.connect(srv.conninfo()) as conn:
        conn.execute("DROP TABLE IF EXISTS public.bench_events_rows")
        conn.execute("CREATE TABLE public.bench_events_rows (LIKE public.package_analytics INCLUDING ALL)")
        packages = conn.execute(
            "SELECT id, download_count, created_at FROM public.taptik_packages "
            "WHERE download_count > 0 ORDER BY id LIMIT %s",
            (sample,),
        ).fetchall()
        done = 0
        t0 = time.monotonic()
        for package_id, count, created_at in packages:
            for _ in range(count):
                conn.execute(
                    "INSERT INTO public.bench_events_rows (package_id, event_type, user_id, metadata, created_at) "
                    "VALUES (%s, 'download', NULL, '{\"migrated\": true}', %s)",
                    (package_id, created_at),
                )
                done += 1
                if done >= sample:
                    break
            if done >= sample:
                break
        seconds = time.monotonic() - t0
        conn.execute("DROP TABLE public.bench_events_rows")
    return {"rows": done, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--downloads", type=int, default=1_000_000, help="about this many counted downloads")
    parser.add_argument("--sample", type=int, default=10_000, help="events for the one-INSERT-per-event reference")
    parser.add_argument("--batch-rows", type=int, default=None, help="-x batch_rows for the migrator")
    args = parser.parse_args()

    with _pg.server() as srv:
        info = _pg.prepare_v1(srv, args.packages, args.downloads, target="0003")
        print(f"v1 data: {info['packages']:,} packages, {info['downloads']:,} downloads ({_pg.env_line()})")
        _pg.checkpoint(srv)
        extra = [f"batch_rows={args.batch_rows}"] if args.batch_rows else []
        run = _pg.upgrade(srv.url, "0004", *extra)
        _scanned, events, load_s = _pg.step_results(run)["0004 download events from download_count"]
        revision_s = _pg.revision_spans(run)["0004"]
        phys = physical_reference(srv)
        rows = row_by_row_reference(srv, args.sample)

    a_rate = phys["rows"] / phys["total_s"]
    project_rev_rate = events / revision_s
    project_load_rate = events / load_s
    _pg.print_table(
        ["method", "rows", "seconds", "rows/s", "x (a)"],
        [
            ["project 0004: events load (batches)", f"{events:,}", f"{load_s:.1f}", _pg.fmt_rate(events, load_s),
             f"{project_load_rate / a_rate:.2f}"],
            ["project 0004: whole revision (load+FK+3 idx)", f"{events:,}", f"{revision_s:.1f}",
             _pg.fmt_rate(events, revision_s), f"{project_rev_rate / a_rate:.2f}"],
            ["project: alembic upgrade 0004 process", f"{events:,}", f"{run.seconds:.1f}",
             _pg.fmt_rate(events, run.seconds), f"{events / run.seconds / a_rate:.2f}"],
            ["(a) INSERT..SELECT, no index: load", f"{phys['rows']:,}", f"{phys['load_s']:.1f}",
             _pg.fmt_rate(phys["rows"], phys["load_s"]), ""],
            ["(a) then PK + 3 indexes", "", f"{phys['index_s']:.1f}", "", ""],
            ["(a) physical reference: load + indexes", f"{phys['rows']:,}", f"{phys['total_s']:.1f}",
             _pg.fmt_rate(phys["rows"], phys["total_s"]), "1.00"],
            ["(a') single INSERT..SELECT, PK present", f"{phys['rows']:,}", f"{phys['pk_load_s']:.1f}",
             _pg.fmt_rate(phys["rows"], phys["pk_load_s"]), f"{phys['rows'] / phys['pk_load_s'] / a_rate:.2f}"],
            ["(b) one INSERT per event (autocommit)", f"{rows['rows']:,}", f"{rows['seconds']:.1f}",
             _pg.fmt_rate(rows["rows"], rows["seconds"]), f"{rows['rows'] / rows['seconds'] / a_rate:.3f}"],
        ],
    )  # fmt: skip
    ratio = project_rev_rate / a_rate
    verdict = "met" if ratio >= 0.8 else "NOT met"
    print(f"\ntarget: project rows/s (whole revision) >= 0.8 x (a): {ratio:.2f} -> {verdict}")
    print(f"(b) at this rate, {events:,} events would take {events / (rows['rows'] / rows['seconds']) / 60:.0f} min")


if __name__ == "__main__":
    main()

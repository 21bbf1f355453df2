"""Issue 4, benchmark 2: the v2 description/title/tags backfill (revision 0003) against one UPDATE.

v1 with N packages migrated to 0002; two copies of taptik_packages (same columns, indexes,
rows, plus the v2 columns the backfill fills) are made before 0003 runs. Then, on the
same server:
- project: `alembic upgrade 0003`; the backfill's figure comes from the batch runner's
  "done, ... changed in X s" log line (batches of heap blocks, then the catch-up pass;
  pre-images of title/user_tags);
- (a) reference: a single-statement UPDATE of the same expressions on copy 1;
- (a') for the diagnosis: the project's own step rendered as ONE statement (its offline
  form: same CTEs, pre-images included) on copy 2.
Target: project rows/s >= 0.5 x (a), while batched.

    python benchmarks/description_backfill.py [--packages 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg

STEP = "0003 backfill v2 fields from metadata"


def revision_0003():
    """The revision module itself, so the reference uses the very same expressions."""
    path = _pg.ROOT / "alembic" / "versions" / "0003_v2_package_columns.py"
    spec = importlib.util.spec_from_file_location("rev_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_copy(conn, name: str) -> None:
    conn.execute(f"CREATE TABLE public.{name} (LIKE public.taptik_packages INCLUDING ALL)")
    conn.execute(f"INSERT INTO public.{name} SELECT * FROM public.taptik_packages")
    conn.execute(f"ALTER TABLE public.{name} ADD COLUMN description text, ADD COLUMN sanitization_level text")
    conn.execute(f"VACUUM ANALYZE public.{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1_000_000)
    parser.add_argument("--downloads", type=int, default=None, help="default: 5 per package")
    parser.add_argument("--batch-rows", type=int, default=None, help="-x batch_rows for the migrator")
    args = parser.parse_args()
    rev = revision_0003()
    from data_migrations import batches
    from data_migrations.preimages import pre_image_table_sql, rewrite_step

    with _pg.server() as srv:
        info = _pg.prepare_v1(srv, args.packages, args.downloads or args.packages * 5, target="0002")
        print(f"v1 data: {info['packages']:,} packages ({_pg.env_line()})")
        with _pg.connect(srv.conninfo()) as conn:
            make_copy(conn, "bench_copy_update")
            make_copy(conn, "bench_copy_step")
        _pg.checkpoint(srv)

        extra = [f"batch_rows={args.batch_rows}"] if args.batch_rows else []
        run = _pg.upgrade(srv.url, "0003", *extra)
        _scanned, changed, step_s = _pg.step_results(run)[STEP]
        revision_s = _pg.revision_spans(run)["0003"]

        assignments = ", ".join(f"{col} = {expr}" for col, expr in rev.BACKFILL.items())
        with _pg.connect(srv.conninfo()) as conn:
            _pg.checkpoint(srv)
            t0 = time.monotonic()
            updated = conn.execute(f"UPDATE public.bench_copy_update t SET {assignments}").rowcount
            update_s = time.monotonic() - t0

            step = rewrite_step(
                "bench", "one statement", "bench_copy_step", rev.BACKFILL, preserve=["title", "user_tags"]
            )
            conn.execute(pre_image_table_sql("bench", "bench_copy_step", ["title", "user_tags"]))
            _pg.checkpoint(srv)
            t0 = time.monotonic()
            (one_rows,) = conn.execute(batches.whole_table_statement(step)).fetchone()
            one_s = time.monotonic() - t0
            (same,) = conn.execute(
                """SELECT count(*) FROM public.taptik_packages p JOIN public.bench_copy_update c USING (id)
                   WHERE (p.title, p.user_tags, p.description, p.sanitization_level)
                         IS NOT DISTINCT FROM (c.title, c.user_tags, c.description, c.sanitization_level)"""
            ).fetchone()

    ref_rate = updated / update_s
    _pg.print_table(
        ["method", "rows", "seconds", "rows/s", "x (a)"],
        [
            ["project 0003 backfill (block batches + catch-up + pre-images)", f"{changed:,}", f"{step_s:.1f}",
             _pg.fmt_rate(changed, step_s), f"{changed / step_s / ref_rate:.2f}"],
            ["project 0003 whole revision", f"{changed:,}", f"{revision_s:.1f}", _pg.fmt_rate(changed, revision_s),
             f"{changed / revision_s / ref_rate:.2f}"],
            ["(a) single-statement UPDATE on a copy", f"{updated:,}", f"{update_s:.1f}",
             _pg.fmt_rate(updated, update_s), "1.00"],
            ["(a') project's step as ONE statement (pre-images)", f"{one_rows:,}", f"{one_s:.1f}",
             _pg.fmt_rate(one_rows, one_s), f"{one_rows / one_s / ref_rate:.2f}"],
        ],
    )  # fmt: skip
    ratio = changed / step_s / ref_rate
    print(f"\nrows with the same backfilled values in the project's table and copy (a): {same:,} of {updated:,}")
    print(f"target: project rows/s >= 0.5 x (a), batched: {ratio:.2f} -> {'met' if ratio >= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()

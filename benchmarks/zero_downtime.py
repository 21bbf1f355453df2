"""Issue 4, benchmark 3: zero downtime. `alembic upgrade head` from v1 while an application probe runs.

v1 with N packages and about D counted downloads; a probe process (its own connection,
application_name 'probe') does a point SELECT and a point UPDATE on a random package every
20 ms, before (baseline) and during `alembic upgrade head`. Every operation is timed; any
exception counts as a failure and the probe reconnects and keeps going. A monitor thread
samples pg_stat_activity every 50 ms for the probe waiting on a lock, and records the
statement of the backend blocking it. Outliers are printed with their time, the last
migrator log line before them and the blocking statement.
Target: max latency under 1 s, no failed operation.

    python benchmarks/zero_downtime.py [--packages 1000000] [--downloads 5000000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg

SELECT = (
    "SELECT id, config_id, user_id, name, title, platform, version, is_public, download_count, "
    "user_tags, metadata, checksum, storage_url, file_size, created_at, updated_at "
    "FROM public.taptik_packages WHERE id = %s"
)
UPDATE = "UPDATE public.taptik_packages SET updated_at = now() WHERE id = %s"
PERIOD_S = 0.020
OUTLIER_S = 0.200


def probe(conninfo: str, out_path: str, stop, ready) -> None:
    """The application: runs until `stop` is set, writes one JSON line per operation."""
    import psycopg

    def connect():
        return psycopg.connect(conninfo, autocommit=True, application_name="probe", connect_timeout=5)

    conn = connect()
    ids = [r[0] for r in conn.execute("SELECT id FROM public.taptik_packages TABLESAMPLE SYSTEM (10) LIMIT 50000")]
    rng = random.Random(7)
    ready.set()
    with open(out_path, "w") as out:
        due = time.monotonic()
        while not stop.is_set():
            package_id = rng.choice(ids)
            for op, sql in (("select", SELECT), ("update", UPDATE)):
                wall = time.time()
                t0 = time.perf_counter()
                error = None
                try:
                    if conn is None or conn.closed:
                        conn = connect()
                    cur = conn.execute(sql, (package_id,))
                    if op == "select":
                        cur.fetchall()
                except Exception as exc:  # any exception counts; keep going
                    error = f"{type(exc).__name__}: {exc}".strip()[:300]
                    try:
                        if conn is not None and (conn.closed or conn.info.transaction_status != 0):
                            conn.close()
                            conn = None
                    except Exception:
                        conn = None
                latency = time.perf_counter() - t0
                out.write(json.dumps({"t": wall, "op": op, "s": latency, "err": error}) + "\n")
            due = max(due + PERIOD_S, time.monotonic())
            time.sleep(max(0.0, due - time.monotonic()))


class Monitor(threading.Thread):
    """Samples what blocks the probe: (time, waited-for lock, blocking pid, blocking statement)."""

    def __init__(self, conninfo: str):
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.samples: list[tuple[float, str, str, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with _pg.connect(self.conninfo) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    """SELECT a.wait_event_type || ':' || coalesce(a.wait_event, ''), left(a.query, 60),
                              b.pid, b.application_name, left(b.query, 300)
                       FROM pg_stat_activity a
                       CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS bp(pid)
                       JOIN pg_stat_activity b ON b.pid = bp.pid
                       WHERE a.application_name = 'probe'"""
                ).fetchall()
                now = time.time()
                for wait, query, pid, app, blocker in rows:
                    self.samples.append((now, f"{wait} {query}", f"{pid} {app}", " ".join(blocker.split())))
                time.sleep(0.05)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summarize(records: list[dict]) -> list[str]:
    lat = [r["s"] * 1000 for r in records if not r["err"]]
    failed = sum(1 for r in records if r["err"])
    if not lat:
        return ["0", "-", "-", "-", str(failed)]
    return [
        f"{len(records):,}",
        f"{statistics.median(lat):.1f}",
        f"{pct(lat, 99):.1f}",
        f"{max(lat):.1f}",
        str(failed),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1_000_000)
    parser.add_argument("--downloads", type=int, default=5_000_000)
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of probe before the upgrade")
    parser.add_argument("--echo", action="store_true", help="echo the migrator's log as it comes")
    parser.add_argument("-x", dest="extra", action="append", default=[], help="extra -x for alembic")
    args = parser.parse_args()

    with _pg.server() as srv:
        info = _pg.prepare_v1(srv, args.packages, args.downloads)
        print(
            f"v1 data: {info['packages']:,} packages, {info['downloads']:,} downloads, "
            f"seeded in {info['seed_s']:.0f} s ({_pg.env_line()})",
            flush=True,
        )
        out_path = str(srv.home / "probe.jsonl")
        ctx = mp.get_context("spawn")
        stop, ready = ctx.Event(), ctx.Event()
        proc = ctx.Process(target=probe, args=(srv.conninfo(), out_path, stop, ready))
        proc.start()
        ready.wait(60)
        monitor = Monitor(srv.conninfo(admin=True))
        monitor.start()
        time.sleep(args.baseline)
        migrator = _pg.Migrator(srv.url, "head", *args.extra, echo=args.echo)
        run = migrator.wait(check=False)
        time.sleep(1.0)
        stop.set()
        proc.join(30)
        monitor.stop.set()
        monitor.join(5)
        with open(out_path) as handle:
            records = [json.loads(line) for line in handle]

    during = [r for r in records if run.started <= r["t"] <= run.ended]
    before = [r for r in records if r["t"] < run.started]
    print(f"\nalembic upgrade head: exit {run.returncode}, {run.seconds:.1f} s")
    for rev, secs in _pg.revision_spans(run).items():
        print(f"  revision {rev}: {secs:.1f} s")
    print()
    _pg.print_table(
        ["probe ops", "count", "p50 ms", "p99 ms", "max ms", "failed"],
        [
            ["baseline (before upgrade)", *summarize(before)],
            ["during upgrade: all", *summarize(during)],
            ["during upgrade: SELECT", *summarize([r for r in during if r["op"] == "select"])],
            ["during upgrade: UPDATE", *summarize([r for r in during if r["op"] == "update"])],
        ],
    )
    lat = [r["s"] for r in during if not r["err"]]
    failed = [r for r in during if r["err"]]
    ok = run.returncode == 0 and lat and max(lat) < 1.0 and not failed
    print(f"\ntarget: max < 1000 ms and 0 failed -> {'met' if ok else 'NOT met'}")
    if run.returncode != 0:
        print("migrator failed:\n" + run.stderr()[-3000:])

    outliers = [r for r in during if r["err"] or r["s"] >= OUTLIER_S]
    if outliers:
        print(f"\nprobe outliers (>= {OUTLIER_S * 1000:.0f} ms or failed): {len(outliers)}")
        for r in sorted(outliers, key=lambda r: -r["s"])[:25]:
            last = [line for t, line in run.lines if t <= r["t"]]
            blockers = sorted({b[3][:160] for b in monitor.samples if r["t"] - 0.05 <= b[0] <= r["t"] + r["s"] + 0.05})
            stamp = time.strftime("%H:%M:%S", time.localtime(r["t"])) + f".{int(r['t'] * 1000) % 1000:03d}"
            print(f"- {stamp} {r['op']} {r['s'] * 1000:.0f} ms {('FAILED ' + r['err']) if r['err'] else ''}")
            print(f"    migrator's last log line: {last[-1][:160] if last else '-'}")
            for b in blockers:
                print(f"    blocked by: {b}")
    seen: dict[str, list[float]] = {}
    for t, _, _, blocker in monitor.samples:
        seen.setdefault(blocker[:200], []).append(t)
    if seen:
        print("\nstatements seen blocking the probe (first seen, samples x 50 ms):")
        for blocker, times in sorted(seen.items(), key=lambda kv: -len(kv[1])):
            print(f"  {time.strftime('%H:%M:%S', time.localtime(min(times)))} x{len(times)}: {blocker}")


if __name__ == "__main__":
    main()

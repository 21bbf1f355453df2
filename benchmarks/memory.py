"""Issue 4, benchmark 4: peak memory of the migrator process, `alembic upgrade head`, as N grows.

For each size, a fresh embedded server with v1 data (N packages, about P downloads per
package) at 0001, then `alembic upgrade head` in its own process under `/usr/bin/time -v`
(peak RSS of that process: "Maximum resident set size"); without /usr/bin/time, the
children's ru_maxrss from getrusage around the subprocess.
Target: flat as N grows, under 200 MB.

    python benchmarks/memory.py [--packages 100000 1000000] [--downloads-per-package 5]
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pg

TIME = shutil.which("time") and Path("/usr/bin/time").exists()


def measure(packages: int, per_package: float) -> tuple[dict, float, float, str]:
    with _pg.server() as srv:
        info = _pg.prepare_v1(srv, packages, int(packages * per_package))
        if TIME:
            run = _pg.Migrator(srv.url, "head", wrapper=["/usr/bin/time", "-v"]).wait()
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr())
            peak_mb, how = int(m.group(1)) / 1024, "/usr/bin/time -v"
        else:
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            run = _pg.upgrade(srv.url, "head")
            after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            # ru_maxrss of children is the max over all waited-for children: valid when it grew.
            peak_mb, how = max(after, before) / 1024, "getrusage(RUSAGE_CHILDREN)"
    return info, run.seconds, peak_mb, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--downloads-per-package", type=float, default=5.0)
    args = parser.parse_args()
    rows = []
    peaks = []
    for n in args.packages:
        info, seconds, peak, how = measure(n, args.downloads_per_package)
        peaks.append(peak)
        rows.append([f"{info['packages']:,}", f"{info['downloads']:,}", f"{seconds:.1f}", f"{peak:.1f}", how])
        print(f"done: {n:,} packages", file=sys.stderr, flush=True)
    print(f"alembic upgrade head from v1 ({_pg.env_line()})\n")
    _pg.print_table(["packages", "downloads (events)", "upgrade s", "migrator peak RSS MB", "measured with"], rows)
    growth = max(peaks) - min(peaks)
    flat = growth < 0.1 * min(peaks) + 10
    ok = flat and max(peaks) < 200
    print(f"\ngrowth {growth:.1f} MB across sizes; max {max(peaks):.1f} MB")
    print(f"target: flat and < 200 MB -> {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()

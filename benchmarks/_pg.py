"""What the data-step benchmarks (issue 4) share.

A dedicated embedded PostgreSQL per script, the alembic CLI as a subprocess (so the
migrator can be timed, measured and killed on its own), a set-based v1 dataset, and
stderr lines stamped with the time they arrived (Alembic's log format has no time).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from _setup import print_table  # noqa: F401  (re-exported for the scripts)

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    home: Path
    url: str  # migrator (postgres, not a superuser), SQLAlchemy form
    admin_url: str  # supabase_admin, SQLAlchemy form

    def conninfo(self, *, admin: bool = False, database: str | None = None) -> str:
        """A libpq URL for psycopg."""
        url = self.admin_url if admin else self.url
        url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        if database:
            url = url.rsplit("/", 1)[0] + "/" + database
        return url

    def sa_url(self, database: str | None = None) -> str:
        return self.url if not database else self.url.rsplit("/", 1)[0] + "/" + database


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """A dedicated embedded PostgreSQL 18 in a temporary folder, stopped and removed at the end."""
    from storage_tasks.local_db import LocalDatabase

    home = Path(tempfile.mkdtemp(prefix="taptik-bench-"))
    local = LocalDatabase(home)
    try:
        local.start()
        yield Server(
            home,
            local.url().render_as_string(hide_password=False),
            local.url(superuser=True).render_as_string(hide_password=False),
        )
    finally:
        with contextlib.suppress(Exception):
            local.stop()
        shutil.rmtree(home, ignore_errors=True)


def connect(conninfo: str, *, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(conninfo, autocommit=autocommit)


def alembic_cmd(url: str, target: str, *extra_x: str, wrapper: list[str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "alembic", "-x", f"db_url={url}"]
    for x in extra_x:
        cmd += ["-x", x]
    cmd += ["upgrade", target]
    return (wrapper or []) + cmd


@dataclass
class Run:
    """One finished migrator run: exit code, wall time, stderr lines with arrival times."""

    returncode: int
    started: float
    ended: float
    lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def line_time(self, pattern: str) -> float | None:
        for t, line in self.lines:
            if re.search(pattern, line):
                return t
        return None


class Migrator:
    """`alembic upgrade` in its own process, its stderr read (and stamped) by a thread."""

    def __init__(self, url: str, target: str, *extra_x: str, wrapper: list[str] | None = None, echo: bool = False):
        self.cmd = alembic_cmd(url, target, *extra_x, wrapper=wrapper)
        self.echo = echo
        self.started = time.time()
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        for raw in self.proc.stderr:
            line = raw.rstrip("\n")
            self.lines.append((time.time(), line))
            if self.echo:
                print(f"  [{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    def wait(self, check: bool = True) -> Run:
        code = self.proc.wait()
        ended = time.time()
        self._reader.join()
        run = Run(code, self.started, ended, self.lines)
        if check and code != 0:
            raise RuntimeError(f"{' '.join(self.cmd[-2:])} failed ({code}):\n{run.stderr()[-4000:]}")
        return run


def upgrade(url: str, target: str, *extra_x: str, echo: bool = False, check: bool = True) -> Run:
    return Migrator(url, target, *extra_x, echo=echo).wait(check=check)


DONE = re.compile(r"\] (\S+) (.+?): done, (\d+) rows scanned, (\d+) changed in ([\d.]+) s")


def step_results(run: Run) -> dict[str, tuple[int, int, float]]:
    """'<revision> <step>' -> (rows scanned, rows changed, seconds) from the batch runner's log."""
    found = {}
    for _, line in run.lines:
        m = DONE.search(line)
        if m:
            found[f"{m.group(1)} {m.group(2)}"] = (int(m.group(3)), int(m.group(4)), float(m.group(5)))
    return found


def revision_spans(run: Run) -> dict[str, float]:
    """Seconds per revision, from the arrival of each 'Running upgrade A -> B' line to the next (or the end)."""
    marks = [(t, m.group(1)) for t, line in run.lines if (m := re.search(r"Running upgrade \S+ -> ([^,\s]+)", line))]
    spans = {}
    for i, (t, rev) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else run.ended
        spans[rev] = end - t
    return spans


def seed_v1(admin_conninfo: str, packages: int, downloads: int, *, users: int | None = None) -> dict:
    """A v1 dataset at revision 0001, set-based: users, packages with realistic metadata,
    download_count spread (skewed: a few popular packages) so the total is close to `downloads`.

    Deterministic (setseed) so two runs with the same sizes give the same values (ids are random).
    """
    users = users or max(1, packages // 10)
    with connect(admin_conninfo) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute(
            "INSERT INTO auth.users (id, email) "
            f"SELECT gen_random_uuid(), 'user' || g || '@bench.test' FROM generate_series(1, {int(users)}) g"
        )
        # weights: 1% popular (x20), 20% never downloaded, the rest uniform; scaled to the target.
        conn.execute(
            f"""
            CREATE TEMP TABLE seed_weights AS
            SELECT g, CASE WHEN g % 100 = 7 THEN 20 * random() * 2
                           WHEN g % 5 = 3 THEN 0
                           ELSE random() * 2 END AS w
            FROM generate_series(1, {int(packages)}) g
            """
        )
        (total_w,) = conn.execute("SELECT sum(w) FROM seed_weights").fetchone()
        scale = downloads / float(total_w) if total_w else 0
        conn.execute(
            f"""
            WITH u AS (SELECT array_agg(id ORDER BY email) AS ids, count(*) AS n FROM auth.users)
            INSERT INTO public.taptik_packages
              (config_id, user_id, name, title, platform, version, is_public, download_count,
               user_tags, metadata, checksum, storage_url, file_size, created_at, updated_at)
            SELECT 'cfg-' || s.g,
                   u.ids[1 + s.g % u.n],
                   'package-' || s.g,
                   CASE WHEN s.g % 4 = 0 THEN 'Title ' || s.g END,
                   (ARRAY['claude-code', 'cursor', 'kiro', 'vim', 'Claude Code', 'CURSOR'])[1 + s.g % 6],
                   CASE WHEN s.g % 20 <> 0 THEN '1.' || (s.g % 7) || '.' || (s.g % 3) END,
                   s.g % 3 = 0,
                   round(s.w * {float(scale)!r})::int,
                   CASE WHEN s.g % 10 = 1 THEN ARRAY['own', 'tag' || (s.g % 50)] END,
                   CASE WHEN s.g % 10 < 6 THEN jsonb_build_object(
                          'title', 'My ' || (ARRAY['Claude', 'Cursor', 'Kiro', 'Vim'])[1 + s.g % 4]
                                   || ' setup #' || s.g,
                          'description', 'Settings, prompts and keybindings exported from a workstation, '
                                         || 'version ' || (s.g % 13) || ', package ' || s.g || '.',
                          'tags', jsonb_build_array('ai', 'ide', 'tag' || (s.g % 97)),
                          'exportedBy', 'taptik-cli 1.' || (s.g % 9))
                        WHEN s.g % 10 < 8 THEN jsonb_build_object('exportedBy', 'taptik-cli 0.9')
                   END,
                   md5('a' || s.g) || md5('b' || s.g),
                   'packages/' || (u.ids[1 + s.g % u.n])::text || '/package-' || s.g || '.taptik',
                   10000 + (s.g::bigint * 7919) % 5000000,
                   timestamptz '2024-01-01' + (s.g % 600) * interval '1 day' + (s.g % 86400) * interval '1 second',
                   timestamptz '2025-06-01' + (s.g % 86400) * interval '1 second'
            FROM seed_weights s, u
            """
        )
        conn.execute("DROP TABLE seed_weights")
        conn.execute("VACUUM ANALYZE public.taptik_packages")
        conn.execute("VACUUM ANALYZE auth.users")
        n, total = conn.execute(
            "SELECT count(*), coalesce(sum(download_count), 0) FROM public.taptik_packages"
        ).fetchone()
    return {"users": users, "packages": n, "downloads": int(total)}


def prepare_v1(srv: Server, packages: int, downloads: int, *, target: str = "0001") -> dict:
    """Migrate to 0001, seed, then (optionally) migrate further to `target`."""
    t0 = time.monotonic()
    upgrade(srv.url, "0001")
    info = seed_v1(srv.conninfo(admin=True), packages, downloads)
    info["seed_s"] = time.monotonic() - t0
    if target != "0001":
        upgrade(srv.url, target)
    return info


def checkpoint(srv: Server, database: str | None = None) -> None:
    with connect(srv.conninfo(admin=True, database=database)) as conn:
        conn.execute("CHECKPOINT")


def fmt_rate(rows: float, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def env_line() -> str:
    return f"nproc={os.cpu_count()}, PostgreSQL embedded (pip wheel), loopback"

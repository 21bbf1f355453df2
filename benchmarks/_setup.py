"""What the storage benchmarks share: an embedded database at head, a user, a moto S3 server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]


def migrated_database(home: Path) -> tuple[str, str]:
    """Start an embedded PostgreSQL in `home`, migrate it to head; returns (migrator URL, superuser URL)."""
    from alembic import command
    from alembic.config import Config

    from storage_tasks.local_db import LocalDatabase

    local = LocalDatabase(home)
    local.start()
    url = local.url().render_as_string(hide_password=False)
    os.environ["DATABASE_URL"] = url
    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    return url, local.url(superuser=True).render_as_string(hide_password=False)


def stop_database(home: Path) -> None:
    from storage_tasks.local_db import LocalDatabase

    LocalDatabase(home).stop()


def add_user(admin_url: str) -> str:
    user_id = str(uuid.uuid4())
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO auth.users (id, email) VALUES (:id, :e)"), {"id": user_id, "e": f"{user_id}@x.test"}
        )
    engine.dispose()
    return user_id


def start_moto() -> subprocess.Popen:
    """moto's S3 server in its own process on 127.0.0.1 (so it does not share our GIL),
    and the AWS variables that point boto3 at it (never AWS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.1)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    return server


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(headers: list[str], rows: list[list]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))

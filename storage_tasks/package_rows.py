"""The taptik_packages rows the storage tasks read and write, in SQL that works on v1 and v2 schemas.

v1 columns are always written; v2's `description` and `sanitization_level` only when the
head schema has them (one information_schema query). Inserts are one statement per batch
(`jsonb_to_recordset`), guarded so that a rerun never inserts the same package twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage_tasks.errors import UnknownUser

DEFAULT_VERSION = "1.0.0"
OPTIONAL_V2_COLUMNS = ("description", "sanitization_level")
_RECORD_TYPES = {
    "user_id": "uuid",
    "config_id": "text",
    "name": "text",
    "title": "text",
    "platform": "text",
    "version": "text",
    "is_public": "boolean",
    "user_tags": "jsonb",
    "metadata": "jsonb",
    "checksum": "text",
    "storage_url": "text",
    "file_size": "bigint",
    "description": "text",
    "sanitization_level": "text",
}


@dataclass
class NewPackage:
    """A row to insert; `metadata` is completed with title/description/tags as v1 clients wrote it."""

    user_id: str
    name: str
    title: str
    platform: str | None
    checksum: str
    storage_url: str
    file_size: int
    is_public: bool = False
    version: str = DEFAULT_VERSION
    description: str | None = None
    sanitization_level: str | None = None
    user_tags: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    config_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def record(self) -> dict:
        row = asdict(self)
        v1_metadata = {"title": self.title, "description": self.description, "tags": self.user_tags}
        row["metadata"] = {**self.metadata, **{k: v for k, v in v1_metadata.items() if v is not None}}
        return row


def table_exists(conn: Connection, name: str) -> bool:
    return conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": f"public.{name}"}).scalar_one()


def package_columns(conn: Connection) -> set[str]:
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'taptik_packages'"
        )
    )
    return {r[0] for r in rows}


def require_user(conn: Connection, user_id: str) -> None:
    found = conn.execute(sa.text("SELECT 1 FROM auth.users WHERE id = CAST(:id AS uuid)"), {"id": user_id})
    if found.first() is None:
        raise UnknownUser(f"user {user_id} does not exist in auth.users; nothing uploaded")


def uploaded_checksums(conn: Connection, user_id: str, checksums: Iterable[str]) -> set[str]:
    """Which of `checksums` this user already has a package for: one query for all of them."""
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT checksum FROM public.taptik_packages "
            "WHERE user_id = CAST(:u AS uuid) AND checksum = ANY(:c)"
        ),
        {"u": user_id, "c": list(checksums)},
    )
    return {r[0] for r in rows}


def insert_packages(
    conn: Connection, rows: list[NewPackage], columns: set[str], *, allow_duplicates: bool = False
) -> set[tuple[str, str]]:
    """Insert `rows`, skipping any whose (user_id, checksum) already has a row unless allowed.

    Returns the (user_id, checksum) pairs inserted. Rows are grouped by which optional v2
    columns they fill, so a column default is never overridden by an explicit NULL.
    """
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        record = row.record()
        optional = tuple(c for c in OPTIONAL_V2_COLUMNS if c in columns and record[c] is not None)
        groups.setdefault(optional, []).append(record)
    inserted: set[tuple[str, str]] = set()
    for optional, records in groups.items():
        inserted |= _insert_group(conn, records, optional, allow_duplicates)
    return inserted


def _insert_group(
    conn: Connection, records: list[dict], optional: tuple[str, ...], allow_duplicates: bool
) -> set[tuple[str, str]]:
    plain = ["user_id", "config_id", "name", "title", "platform", "version", "is_public"]
    plain += ["metadata", "checksum", "storage_url", "file_size", *optional]
    # Column names come from the fixed lists above, never from input.
    target = ", ".join([*plain, "user_tags"])
    values = ", ".join([*(f"r.{c}" for c in plain), "ARRAY(SELECT jsonb_array_elements_text(r.user_tags))"])
    record_def = ", ".join(f"{c} {_RECORD_TYPES[c]}" for c in [*plain, "user_tags"])
    guard = (
        ""
        if allow_duplicates
        else "WHERE NOT EXISTS (SELECT 1 FROM public.taptik_packages p "
        "WHERE p.user_id = r.user_id AND p.checksum = r.checksum)"
    )
    statement = sa.text(
        f"INSERT INTO public.taptik_packages ({target}) "
        f"SELECT {values} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({record_def}) "
        f"{guard} RETURNING user_id::text, checksum"
    )
    result = conn.execute(statement, {"rows": json.dumps(records)})
    return {(r[0], r[1]) for r in result}


@dataclass(frozen=True)
class StoredPackage:
    id: str
    user_id: str | None
    storage_url: str | None
    file_size: int | None
    checksum: str | None


def stream_packages(conn: Connection, *, batch: int = 5000) -> Iterator[StoredPackage]:
    """Every package's storage facts, streamed from a server-side cursor."""
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(
        sa.text(
            "SELECT id::text, user_id::text, storage_url, file_size, checksum FROM public.taptik_packages ORDER BY id"
        )
    )
    for row in result:
        yield StoredPackage(*row)

"""Fixtures for the storage tasks: a migrated database, a user, package files, and object stores.

Every store-facing test runs on the file backend and on the S3 backend against moto's
real HTTP server on 127.0.0.1 (never AWS).
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from storage_tasks.cli import main
from storage_tasks.stores import ObjectStore, RetryPolicy, open_store
from tests.helpers import add_user

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch) -> str:
    """Dummy credentials and the moto endpoint in the environment; returns a fresh bucket's URL."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    import boto3

    bucket = f"taptik-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}"


@pytest.fixture(params=["file", "s3"])
def storage_url(request, tmp_path: Path, monkeypatch) -> str:
    """The URL of an empty store, once per backend; also set as TAPTIK_STORAGE."""
    url = (tmp_path / "bucket").as_uri() if request.param == "file" else request.getfixturevalue("s3_env")
    monkeypatch.setenv("TAPTIK_STORAGE", url)
    return url


@pytest.fixture
def file_storage_url(tmp_path: Path, monkeypatch) -> str:
    """The file backend only: for behaviour that does not depend on the backend."""
    url = (tmp_path / "bucket").as_uri()
    monkeypatch.setenv("TAPTIK_STORAGE", url)
    return url


@pytest.fixture
def file_store(file_storage_url: str) -> ObjectStore:
    return open_store(file_storage_url, retry=FAST_RETRY)


@pytest.fixture
def store(storage_url: str) -> ObjectStore:
    return open_store(storage_url, retry=FAST_RETRY)


def keys(store: ObjectStore) -> set[str]:
    return {o.key for o in store.list()}


@pytest.fixture
def migrated_url(alembic_runner, db_url: str, monkeypatch) -> str:
    """The test database at head; DATABASE_URL points at it so tasks never start the embedded one."""
    alembic_runner.migrate_up_to("heads")
    monkeypatch.setenv("DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def admin_engine(admin_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


@pytest.fixture
def user_id(migrated_url: str, admin_engine: sa.Engine) -> str:
    with admin_engine.begin() as conn:
        return str(add_user(conn))


def package_doc(name: str, platform: str = "claude-code", **extra) -> dict:
    return {
        "name": name,
        "title": f"{name} title",
        "description": f"{name} description",
        "platform": platform,
        "version": "2.1.0",
        "tags": ["ai", name],
        "settings": {"model": "opus", "theme": "dark", "tabSize": 2, "apiKey": "sk-secret"},
        "keybindings": [{"key": "ctrl+shift+p", "command": "palette"}],
    } | extra


def write_package(folder: Path, filename: str, doc: dict | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    return path


@pytest.fixture
def packages_dir(tmp_path: Path) -> Path:
    """Three valid JSON packages."""
    folder = tmp_path / "packages"
    for name in ("alpha", "beta", "gamma"):
        write_package(folder, f"{name}.taptik", package_doc(name))
    return folder


def run(*args: str, input: str | None = None) -> Result:
    """The real `taptik-db` click group, in process."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def rows(engine: sa.Engine, sql: str = "SELECT * FROM taptik_packages ORDER BY name", **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]

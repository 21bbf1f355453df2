"""Every environment variable the project reads, read and validated in one place.

Secrets (database passwords, service keys) are kept out of `repr` so a settings
object can be logged safely; URLs are shown through `redact_url`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from taptik_models.errors import ConfigError

DRIVER = "postgresql+psycopg"
_ACCEPTED_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def normalize_database_url(raw: str) -> str:
    """Turn the `postgres://` / `postgresql://` URLs Supabase hands out into SQLAlchemy's psycopg form."""
    raw = raw.strip()
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"DATABASE_URL is not a database URL: {_redact_unparsed(raw)}") from None
    if url.drivername not in _ACCEPTED_SCHEMES:
        raise ConfigError(f"DATABASE_URL must start with postgres:// or postgresql:// (got {url.drivername}://)")
    if not url.host and not url.query.get("host"):
        raise ConfigError(f"DATABASE_URL names no host: {redact_url(url)}")
    return url.set(drivername=DRIVER).render_as_string(hide_password=False)


def redact_url(url: str | URL) -> str:
    """The URL with its password replaced by `***`, safe to print or log."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return _redact_unparsed(url)
    return url.render_as_string(hide_password=True)


def _redact_unparsed(raw: str) -> str:
    # Without a parse we cannot tell the password apart, so hide all credentials.
    scheme, sep, rest = raw.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return raw if sep else "<unparsable>"


def project_root() -> Path:
    """The checkout this package lives in (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "alembic.ini").exists() else Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build with `load_settings()`."""

    database_url: str | None = field(repr=False)
    home: Path
    storage_url: str | None
    supabase_url: str | None
    supabase_service_role_key: str | None = field(repr=False)
    test_database_url: str | None = field(repr=False)

    def __repr__(self) -> str:
        shown = redact_url(self.database_url) if self.database_url else None
        key = "***" if self.supabase_service_role_key else None
        return (
            f"Settings(database_url={shown!r}, home={str(self.home)!r}, "
            f"storage_url={self.storage_url!r}, supabase_url={self.supabase_url!r}, "
            f"supabase_service_role_key={key!r})"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the environment once and validate it; raises ConfigError on bad values."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    database_url = get("DATABASE_URL")
    test_url = get("TAPTIK_TEST_DATABASE_URL")
    home = Path(get("TAPTIK_HOME") or project_root() / ".taptik").expanduser()
    return Settings(
        database_url=normalize_database_url(database_url) if database_url else None,
        home=home.resolve(),
        storage_url=get("TAPTIK_STORAGE"),
        supabase_url=get("SUPABASE_URL"),
        supabase_service_role_key=get("SUPABASE_SERVICE_ROLE_KEY"),
        test_database_url=normalize_database_url(test_url) if test_url else None,
    )

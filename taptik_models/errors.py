"""User-facing errors. The CLI and env.py turn each into one line on stderr."""

from __future__ import annotations


class TaptikError(Exception):
    """An error whose message is fit for the user; `exit_code` is what the CLI returns."""

    exit_code = 1


class ConfigError(TaptikError):
    """A setting (environment variable, option, URL) is missing or malformed."""

    exit_code = 2


class DatabaseUnavailable(TaptikError):
    """The database cannot be reached or refuses our credentials."""

    exit_code = 3


class MissingSupabaseEnvironment(TaptikError):
    """The database lacks the roles, schemas or functions every Supabase project has."""

    exit_code = 4


class MigrationLockTimeout(TaptikError):
    """Another migrator held the migration lock for longer than we were willing to wait."""

    exit_code = 5


class LockNotGranted(TaptikError):
    """A migration statement could not get its table lock within lock_timeout, after every retry."""

    exit_code = 8


class LocalDatabaseError(TaptikError):
    """The embedded local PostgreSQL could not be initialised, started or stopped."""

    exit_code = 6


class StorageError(TaptikError):
    """An object store failed, or a key or storage URL is invalid."""

    exit_code = 7

"""Errors of the storage tasks, children of the shared hierarchy in taptik_models.errors."""

from __future__ import annotations

from taptik_models.errors import ConfigError, StorageError, TaptikError


class InvalidKey(StorageError):
    """An object key that could escape its bucket or folder, or that no backend accepts."""


class TransientStorageError(StorageError):
    """A failure worth retrying: 5xx, timeout, dropped connection."""


class ObjectExists(StorageError):
    """A put without upsert found the key already taken."""


class ManifestError(ConfigError):
    """The manifest file is missing, not JSON, or not shaped as `taptik-db export` writes it."""


class UnknownUser(TaptikError):
    """The user id names nobody in auth.users."""

    exit_code = 2


class UnknownPlatformPair(ConfigError):
    """No transformer exists for the requested --from/--to pair."""


class ObjectNotFound(StorageError):
    """A get on a key the store does not have."""

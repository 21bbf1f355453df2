"""The object-store interface, on the file backend and on a real S3 HTTP server (moto)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from storage_tasks.errors import InvalidKey, ObjectExists, TransientStorageError
from storage_tasks.stores import RetryPolicy, open_store, validate_key
from storage_tasks.stores import s3 as s3_backend
from taptik_models.errors import ConfigError
from tests.storage.conftest import FAST_RETRY, keys


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "user/../../x", "/absolute", "a//b", "a/./b", "tab\there", "nul\x00", "x" * 1025, ""],
)
def test_unsafe_keys_are_refused(key):
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_ordinary_keys_pass():
    assert validate_key("6f1c/abc.taptik") == "6f1c/abc.taptik"
    assert validate_key("é/名前 with space.taptik")


def test_put_refuses_a_traversal_key(store, tmp_path):
    with pytest.raises(InvalidKey):
        store.put("../escape.taptik", b"x", content_type="application/json")
    assert not (tmp_path / "escape.taptik").exists()
    assert keys(store) == set()


def test_put_stat_get_list_delete_round_trip(store):
    store.put("u1/a.taptik", b'{"a": 1}', content_type="application/json")
    store.put("u2/b.taptik", b"bb", content_type="application/json")
    assert store.stat("u1/a.taptik").size == 8
    assert store.stat("u1/missing") is None
    assert b"".join(store.get("u1/a.taptik")) == b'{"a": 1}'
    assert keys(store) == {"u1/a.taptik", "u2/b.taptik"}
    assert {o.key for o in store.list("u2")} == {"u2/b.taptik"}
    result = store.delete(["u1/a.taptik", "u1/never-existed"])
    assert not result.failed
    assert keys(store) == {"u2/b.taptik"}


def test_put_without_upsert_refuses_an_existing_key(store):
    store.put("k.taptik", b"first", content_type="application/json")
    with pytest.raises(ObjectExists):
        store.put("k.taptik", b"second", content_type="application/json", upsert=False)
    assert b"".join(store.get("k.taptik")) == b"first"


def test_s3_listing_follows_every_page(s3_env, monkeypatch):
    monkeypatch.setattr(s3_backend, "PAGE_SIZE", 7)
    store = open_store(s3_env, retry=FAST_RETRY)
    for i in range(30):
        store.put(f"k/{i:03d}", b"x", content_type="text/plain")
    assert len(list(store.list())) == 30


def test_s3_delete_reports_each_key(s3_env):
    store = open_store(s3_env, retry=FAST_RETRY)
    wanted = [f"d/{i}" for i in range(25)]
    for key in wanted:
        store.put(key, b"x", content_type="text/plain")
    result = store.delete(wanted)
    assert sorted(result.deleted) == sorted(wanted) and not result.failed
    assert keys(store) == set()


def test_unknown_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="known: file://, s3://, supabase://"):
        open_store("ftp://bucket")


def test_transient_errors_are_retried_then_succeed():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return "done"

    assert RetryPolicy(attempts=5, base_delay=0.001).call(flaky, s3_backend.is_transient) == "done"
    assert len(calls) == 3


def test_retries_are_bounded():
    def down():
        raise ClientError({"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "Put")

    with pytest.raises(TransientStorageError, match="after 3 attempts"):
        RetryPolicy(attempts=3, base_delay=0.001).call(down, s3_backend.is_transient)


def test_permanent_errors_are_not_retried():
    calls = []

    def denied():
        calls.append(1)
        raise ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "Put")

    with pytest.raises(ClientError):
        RetryPolicy(attempts=5, base_delay=0.001).call(denied, s3_backend.is_transient)
    assert len(calls) == 1

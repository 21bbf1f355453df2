"""Contract of the supabase:// backend against a real Supabase project (opt-in).

Runs only when SUPABASE_URL (and SUPABASE_SERVICE_ROLE_KEY) are set, against the bucket
in TAPTIK_TEST_SUPABASE_BUCKET (default taptik-packages), under a unique folder it
removes afterwards. The suite never reaches a cloud endpoint otherwise.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from storage_tasks.errors import InvalidKey, ObjectExists
from storage_tasks.stores import open_store

pytestmark = pytest.mark.skipif(
    not (os.environ.get("SUPABASE_URL") and os.environ.get("SUPABASE_SERVICE_ROLE_KEY")),
    reason="supabase:// contract test needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY of a test project",
)


def test_supabase_store_honours_the_interface():
    bucket = os.environ.get("TAPTIK_TEST_SUPABASE_BUCKET", "taptik-packages")
    folder = f"contract-{uuid.uuid4().hex}"
    store = open_store(f"supabase://{bucket}/{folder}")
    data = b'{"name": "contract"}'
    keys = [f"u/{i}.taptik" for i in range(3)]
    try:
        for key in keys:
            store.put(key, data, content_type="application/json")
        with pytest.raises(ObjectExists):
            store.put(keys[0], data, content_type="application/json", upsert=False)
        with pytest.raises(InvalidKey):
            store.put("../escape", data, content_type="application/json")
        assert store.stat(keys[0]).size == len(data)
        assert store.stat("u/missing.taptik") is None
        assert hashlib.sha256(b"".join(store.get(keys[1]))).digest() == hashlib.sha256(data).digest()
        assert sorted(o.key for o in store.list()) == keys
    finally:
        result = store.delete(keys)
    assert not result.failed
    assert list(store.list()) == []

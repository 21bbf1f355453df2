"""The v1/v2 push API mapping, both ways."""

import pytest

from taptik_models.compat import CompatError, detect_api_version, v1_request_to_v2, v2_request_to_v1, v2_response_to_v1

V1 = {
    "file": "pkg.taptik",
    "user": "u-1",
    "public": True,
    "name": "my-settings",
    "platform": "cursor",
    "metadata": {"title": "T", "description": "D", "tags": ["a", "b"], "source": "cli"},
}
V2 = {
    "filePath": "pkg.taptik",
    "userId": "u-1",
    "isPublic": True,
    "name": "my-settings",
    "platform": "cursor",
    "title": "T",
    "description": "D",
    "tags": ["a", "b"],
    "metadata": {"source": "cli"},
}


def test_v1_request_converts_to_v2():
    assert v1_request_to_v2(V1) == V2


def test_v1_to_v2_to_v1_round_trips():
    assert v2_request_to_v1(v1_request_to_v2(V1)) == V1


def test_v2_to_v1_to_v2_round_trips_without_v2_only_fields():
    assert v1_request_to_v2(v2_request_to_v1(V2)) == V2
    with_team = V2 | {"teamId": "t-1", "version": "2.0.0"}
    assert v1_request_to_v2(v2_request_to_v1(with_team)) == V2


@pytest.mark.parametrize(
    "headers, body, expected",
    [
        ({"X-API-Version": "2"}, V1, 2),
        ({"x-api-version": "v1"}, V2, 1),
        ({}, V1, 1),
        ({}, V2, 2),
        (None, {"teamId": "t", "name": "n"}, 2),
        ({}, {"metadata": {"title": "t"}}, 1),
    ],
)
def test_detect_api_version(headers, body, expected):
    assert detect_api_version(headers, body) == expected


def test_undetectable_or_unsupported_version_is_an_error():
    with pytest.raises(CompatError, match="cannot tell"):
        detect_api_version({}, {"name": "x"})
    with pytest.raises(CompatError, match="unsupported"):
        detect_api_version({"x-api-version": "3"}, V2)


def test_v2_response_as_v1():
    response = {
        "success": True,
        "package": {"id": "p-1", "storageUrl": "u/p.taptik", "title": "T", "tags": ["a"], "teamId": "t"},
    }
    assert v2_response_to_v1(response) == {
        "success": True,
        "id": "p-1",
        "url": "u/p.taptik",
        "metadata": {"title": "T", "tags": ["a"]},
    }
    assert v2_response_to_v1({"success": False, "error": "quota"}) == {"success": False, "error": "quota"}


def test_backfill_uses_the_same_metadata_mapping():
    from taptik_models.compat import V1_METADATA_COLUMNS, V1_METADATA_TO_V2

    assert set(V1_METADATA_COLUMNS) == set(V1_METADATA_TO_V2)

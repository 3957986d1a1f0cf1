"""Key, prefix and URI rules (artifact_store.uri), including properties over random keys."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artifact_store import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStoreError,
    InvalidArtifactKey,
    LocalArtifactStore,
    ParsedUri,
    join_key,
    parse_uri,
    validate_key,
    validate_prefix,
)

safe_segments = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", "..") and not s.startswith(".kubepipe"))
safe_keys = st.lists(safe_segments, min_size=1, max_size=6).map("/".join)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path_factory.mktemp("keys") / "store")


# -- validate_key ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("", "empty"),
        ("/runs/r1", "absolute"),
        ("runs/../etc", r"'\.\.' segment"),
        ("..", r"'\.\.' segment"),
        ("runs/./r1", r"'\.' segment"),
        ("runs//r1", "empty segment"),
        ("runs/r1/", "empty segment"),
        ("runs\x00", "control character"),
        ("runs\nr1", "control character"),
        ("runs\\r1", "backslash"),
        ("\ud800", "UTF-8"),
        ("a" * 1025, "1024 bytes"),
        ("a" * 256, "255 bytes"),
    ],
)
def test_each_rule_names_itself_and_the_fix(key: str, rule: str) -> None:
    with pytest.raises(InvalidArtifactKey, match=rule) as raised:
        validate_key(key)
    assert "Fix:" in str(raised.value)
    assert isinstance(raised.value, ValueError)  # So pydantic validators can call it.


@pytest.mark.parametrize(
    "key", ["a", "runs/r1/train/model.tgz", ".hidden/x", "a..b", "...", "sp ace/ünï"]
)
def test_ordinary_keys_are_returned_unchanged(key: str) -> None:
    assert validate_key(key) == key


@given(safe_keys)
def test_any_key_of_safe_segments_validates(key: str) -> None:
    assert validate_key(key) == key


@given(safe_keys)
def test_any_key_of_safe_segments_round_trips_through_its_uri(
    store: LocalArtifactStore, key: str
) -> None:
    uri = store.uri_for(key)
    assert uri.startswith("file:///")
    assert store.key_from_uri(uri) == key


@given(st.lists(safe_segments, max_size=4), st.lists(safe_segments, max_size=4))
def test_any_dotdot_segment_is_rejected(before: list[str], after: list[str]) -> None:
    with pytest.raises(InvalidArtifactKey, match=r"'\.\.'"):
        validate_key("/".join([*before, "..", *after]))


@given(safe_keys)
def test_any_leading_slash_is_rejected(key: str) -> None:
    with pytest.raises(InvalidArtifactKey, match="absolute"):
        validate_key("/" + key)


@given(safe_keys, st.data())
def test_any_nul_is_rejected(key: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(key)))
    with pytest.raises(InvalidArtifactKey, match="control character"):
        validate_key(key[:at] + "\x00" + key[at:])


# -- prefixes and join_key ------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "runs/", "runs/r", "runs/r1/", ".", "runs/.."])
def test_prefixes_may_end_anywhere(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/runs", "runs/../x", "runs//", "a\x00"])
def test_unsafe_prefixes_are_rejected(prefix: str) -> None:
    with pytest.raises(InvalidArtifactKey, match="invalid artifact prefix"):
        validate_prefix(prefix)


def test_join_key_drops_empty_parts_and_trailing_slashes() -> None:
    assert join_key("", "team/", "runs", "r1/out.tgz") == "team/runs/r1/out.tgz"


@pytest.mark.parametrize("parts", [("runs", "/etc"), ("runs", ".."), ("",), ()])
def test_join_key_does_not_hide_bad_parts(parts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidArtifactKey):
        join_key(*parts)


# -- parse_uri ------------------------------------------------------------------


def test_parse_file_and_s3_uris() -> None:
    assert parse_uri("file:///data/artifacts/runs/r1") == ParsedUri(
        "file", "/", "data/artifacts/runs/r1"
    )
    assert parse_uri("file://localhost/data/a%20b") == ParsedUri("file", "/", "data/a b")
    assert parse_uri("file:///") == ParsedUri("file", "/", "")
    assert parse_uri("s3://my-bucket/runs/r1/out.tgz") == ParsedUri(
        "s3", "my-bucket", "runs/r1/out.tgz"
    )
    assert parse_uri("s3://my-bucket/prefix/") == ParsedUri("s3", "my-bucket", "prefix")
    assert parse_uri("s3://my-bucket") == ParsedUri("s3", "my-bucket", "")


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("/plain/path", "no scheme"),
        ("gs://bucket/key", "not supported"),
        ("file://host/path", "three slashes"),
        ("file:relative", "no scheme"),
        ("s3://Bad_Bucket/key", "bucket name"),
        ("s3://ab/key", "bucket name"),
        ("s3://bucket/a/../../etc", r"'\.\.'"),
        ("file:///data/%2e%2e/etc", r"'\.\.'"),
        ("file:///data/%ff", "UTF-8"),
    ],
)
def test_bad_uris_are_rejected_with_the_rule(uri: str, problem: str) -> None:
    with pytest.raises(InvalidArtifactKey, match=problem) as raised:
        parse_uri(uri)
    assert "invalid artifact URI" in str(raised.value)


@given(st.sampled_from(["file", "s3"]), st.one_of(st.just(""), safe_keys))
def test_parsed_uris_format_back_to_themselves(scheme: str, key: str) -> None:
    parsed = ParsedUri(scheme, "/" if scheme == "file" else "my-bucket", key)  # type: ignore[arg-type]
    assert parse_uri(parsed.uri) == parsed


# -- errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ArtifactNotFound("k", "file:///s/k"),
        InvalidArtifactKey("/k", "it is absolute", "drop the '/'", "prefix"),
        ArtifactIntegrityError("k", "file:///s/k", "a" * 64, "b" * 64),
        ArtifactStoreError("plain"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling_with_their_message(error: ArtifactStoreError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert vars(copy) == vars(error)

"""S3 store configuration: KUBEPIPE_S3_* settings, open_store("s3://..."), endpoints, URIs.

None of these tests needs a server: opening an S3 store makes no request.
"""

from __future__ import annotations

import sys

import pytest
from pydantic import SecretStr

from artifact_store import (
    ArtifactStoreError,
    InvalidArtifactKey,
    LocalArtifactStore,
    S3ArtifactStore,
    S3Settings,
    open_store,
)

VARS = ["KUBEPIPE_S3_ENDPOINT", "KUBEPIPE_S3_ACCESS_KEY", "KUBEPIPE_S3_SECRET_KEY"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*VARS, "KUBEPIPE_S3_SECURE", "KUBEPIPE_S3_REGION"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    defaults = {"ENDPOINT": "127.0.0.1:9000", "ACCESS_KEY": "kp", "SECRET_KEY": "s3cr3t-value"}
    for name, value in {**defaults, **values}.items():
        monkeypatch.setenv(f"KUBEPIPE_S3_{name}", value)


def store(**kwargs: object) -> S3ArtifactStore:
    options = {"endpoint": "127.0.0.1:9000", "access_key": "kp", "secret_key": "s"}
    return S3ArtifactStore("my-bucket", **{**options, **kwargs})  # type: ignore[arg-type]


# -- missing and malformed settings ------------------------------------------------


def test_missing_variables_are_all_named_with_the_fix() -> None:
    with pytest.raises(ArtifactStoreError) as raised:
        open_store("s3://my-bucket/artifacts")
    message = str(raised.value)
    assert "'s3://my-bucket/artifacts'" in message
    for name in VARS:
        assert name in message
    assert "are not set" in message and "Fix: export KUBEPIPE_S3_ENDPOINT=host:port" in message
    assert not isinstance(raised.value, InvalidArtifactKey)


@pytest.mark.parametrize("empty", ["", "   "])
def test_one_missing_variable_is_named_alone(clean_env: pytest.MonkeyPatch, empty: str) -> None:
    set_env(clean_env, SECRET_KEY=empty)
    with pytest.raises(ArtifactStoreError, match="KUBEPIPE_S3_SECRET_KEY is not set") as raised:
        open_store("s3://my-bucket")
    assert "KUBEPIPE_S3_ENDPOINT" not in str(raised.value).split("is not set")[0]


def test_a_malformed_secure_flag_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, SECURE="maybe")
    with pytest.raises(
        ArtifactStoreError, match=r"KUBEPIPE_S3_SECURE: .*Fix: set KUBEPIPE_S3_SECURE"
    ):
        open_store("s3://my-bucket")


def test_explicit_settings_are_checked_too() -> None:
    with pytest.raises(ArtifactStoreError, match="KUBEPIPE_S3_ACCESS_KEY is not set"):
        open_store(
            "s3://my-bucket",
            s3_settings=S3Settings(endpoint="h:1", access_key=None, secret_key=SecretStr("x")),
        )


def test_the_secret_never_shows_in_settings_reprs(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env)
    settings = S3Settings()
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings)
    assert settings.missing_variables() == []


# -- open_store --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secure", "scheme"),
    [(None, "http"), ("false", "http"), ("0", "http"), ("true", "https"), ("yes", "https")],
)
def test_open_store_builds_an_s3_store_from_the_environment_without_a_request(
    clean_env: pytest.MonkeyPatch, secure: str | None, scheme: str
) -> None:
    # Port 9 (discard) has no S3 server: opening must not connect.
    set_env(clean_env, ENDPOINT="127.0.0.1:9", **({"SECURE": secure} if secure else {}))
    opened = open_store("s3://my-bucket/team/")
    assert isinstance(opened, S3ArtifactStore)
    assert (opened.bucket, opened.prefix) == ("my-bucket", "team")
    assert opened.endpoint == f"{scheme}://127.0.0.1:9"
    assert opened.root_uri == "s3://my-bucket/team"
    assert "my-bucket" in repr(opened) and "127.0.0.1:9" in repr(opened)


def test_open_store_keeps_local_paths_local(tmp_path: object) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalArtifactStore)


@pytest.mark.parametrize(
    ("uri", "match"),
    [("s3://Bad_Bucket/x", "bucket name"), ("s3://bucket/a/../b", r"'\.\.'"), ("s3://", "bucket")],
)
def test_malformed_s3_uris_are_refused_before_settings(uri: str, match: str) -> None:
    with pytest.raises(InvalidArtifactKey, match=match):
        open_store(uri)


def test_a_missing_minio_client_is_explained(
    clean_env: pytest.MonkeyPatch,
) -> None:
    set_env(clean_env)
    clean_env.delitem(sys.modules, "artifact_store.s3", raising=False)
    clean_env.setitem(sys.modules, "minio", None)  # Makes `import minio` fail.
    with pytest.raises(ArtifactStoreError, match=r"pip install 'kubepipe\[s3\]'"):
        open_store("s3://my-bucket")


def test_from_uri_refuses_other_schemes() -> None:
    settings = S3Settings(endpoint="h:1", access_key="a", secret_key=SecretStr("b"))
    with pytest.raises(InvalidArtifactKey, match="not an s3:// URI"):
        S3ArtifactStore.from_uri("file:///tmp/x", settings)


# -- endpoints and options ------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "secure", "expected"),
    [
        ("minio.example:9000", None, "http://minio.example:9000"),
        ("http://minio.example:9000/", None, "http://minio.example:9000"),
        ("https://minio.example", None, "https://minio.example"),
        ("https://minio.example", True, "https://minio.example"),
        (" 10.0.0.5:9000 ", True, "https://10.0.0.5:9000"),
    ],
)
def test_endpoint_forms(endpoint: str, secure: bool | None, expected: str) -> None:
    assert store(endpoint=endpoint, secure=secure).endpoint == expected


@pytest.mark.parametrize(
    ("endpoint", "secure", "match"),
    [
        ("https://minio.example", False, "says https, but KUBEPIPE_S3_SECURE is false"),
        ("ftp://minio.example", None, "scheme 'ftp'"),
        ("minio.example:9000/my-bucket", None, "not host:port.*bucket goes in the store URI"),
        ("", None, "not host:port"),
    ],
)
def test_bad_endpoints_say_what_to_write(endpoint: str, secure: bool | None, match: str) -> None:
    with pytest.raises(ArtifactStoreError, match=match) as raised:
        store(endpoint=endpoint, secure=secure)
    assert "Fix:" in str(raised.value)


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ArtifactStoreError, match="part_size >= 5242880"):
        store(part_size=1024 * 1024)


def test_part_size_grows_only_past_ten_thousand_parts() -> None:
    s = store()
    mib = 1024 * 1024
    assert s._part_size_for(0) == 5 * mib
    assert s._part_size_for(10_000 * 5 * mib) == 5 * mib
    grown = s._part_size_for(10_000 * 5 * mib + 1)
    assert grown == 6 * mib and grown * 10_000 >= 10_000 * 5 * mib + 1


# -- URIs -------------------------------------------------------------------------


def test_uris_carry_bucket_prefix_and_verbatim_key() -> None:
    s = store(prefix="team/a/")
    assert s.prefix == "team/a"
    key = "runs/r 1/ünï/%41?#&=+"
    assert s.uri_for(key) == f"s3://my-bucket/team/a/{key}"
    assert s.key_from_uri(s.uri_for(key)) == key
    for outside in ["s3://my-bucket/team/ab/k", "s3://my-bucket/k", "s3://other-bucket/team/a/k"]:
        with pytest.raises(InvalidArtifactKey, match="outside this store"):
            s.key_from_uri(outside)
    with pytest.raises(InvalidArtifactKey, match="file:// URI"):
        s.key_from_uri("file:///team/a/k")


def test_the_prefixed_object_name_must_fit_s3s_key_limit() -> None:
    s = store(prefix="p" * 200)
    key = "/".join(["k" * 200] * 4)  # 803 bytes; with "ppp.../" in front, 1004.
    assert s.uri_for(key)
    with pytest.raises(InvalidArtifactKey, match="1024 bytes"):
        s.uri_for(key + "/" + "k" * 30)

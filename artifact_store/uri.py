"""Artifact keys and URIs: the naming rules every store shares.

A *key* is a relative, '/'-separated name such as ``runs/r1/train/model.tgz``. Keys are
checked here, once, before any store touches a disk or a bucket, so that an unsafe
key (one that could climb out of the store with ``..``) is refused with the same
message by every backend. The limits are the strictest of the backends kubepipe
targets (S3 allows 1024 bytes per key; most filesystems 255 bytes per name), so a key
that works on a laptop also works against MinIO.

A *URI* (``file:///abs/path`` or ``s3://bucket/key``) is what gets recorded in run
metadata. ``file`` URIs are percent-encoded (RFC 8089); ``s3`` URIs carry the key
verbatim, as the AWS and MinIO tools print them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from artifact_store.errors import ArtifactStoreError, InvalidArtifactKey

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "ParsedUri",
    "join_key",
    "parse_uri",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255

_EXAMPLE_KEY = "'runs/<run-id>/<step>/<artifact>'"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

Scheme = Literal["file", "s3"]


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if every store can hold it safely, else raise.

    Raises:
        InvalidArtifactKey: naming the rule the key breaks and how to fix it.
    """
    problem = _key_problem(key)
    if problem is not None:
        raise InvalidArtifactKey(str(key), *problem)
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` unchanged if it can select keys, else raise.

    A prefix is a plain string prefix of keys (S3 semantics: ``"runs/r"`` selects
    ``runs/r1/...`` and ``runs/r2/...``). The empty prefix selects everything. Any
    complete segment it contains must obey the key rules, so a prefix cannot point
    outside the store either.

    Raises:
        InvalidArtifactKey: naming the rule the prefix breaks and how to fix it.
    """
    if prefix == "":
        return prefix
    # Completing the last (possibly partial) segment turns a valid prefix into a valid key.
    problem = _key_problem(prefix + "x" if isinstance(prefix, str) else prefix)
    if problem is not None:
        raise InvalidArtifactKey(str(prefix), *problem, kind="prefix")
    return prefix


def join_key(*parts: str) -> str:
    """Join key parts with '/' and validate the result.

    Empty parts and one trailing '/' per part are dropped, so a store's optional
    prefix (``""`` or ``"team/"``) can be joined without special cases. Leading '/'
    and ``..`` are *not* cleaned up: they point at a bug upstream and are rejected.

    Raises:
        InvalidArtifactKey: if the joined key breaks a key rule.
    """
    trimmed = [part[:-1] if part.endswith("/") else part for part in parts if part]
    return validate_key("/".join(part for part in trimmed if part))


@dataclass(frozen=True)
class ParsedUri:
    """An artifact URI split into the parts a store needs.

    For ``s3`` URIs ``bucket_or_root`` is the bucket. For ``file`` URIs it is the
    filesystem root ``"/"`` and ``key`` is the absolute path without its leading '/',
    so both schemes read as "container + relative key". ``key`` is ``""`` when the
    URI names the container itself (``s3://bucket``, ``file:///``).
    """

    scheme: Scheme
    bucket_or_root: str
    key: str

    @property
    def uri(self) -> str:
        """The canonical URI text, such that ``parse_uri(p.uri) == p``."""
        if self.scheme == "file":
            return "file://" + quote("/" + self.key, safe="/")
        bucket = f"s3://{self.bucket_or_root}"
        return f"{bucket}/{self.key}" if self.key else bucket


def parse_uri(uri: str) -> ParsedUri:
    """Split a ``file:///abs/path`` or ``s3://bucket/key`` URI.

    The key part is validated like any key (one trailing '/' is tolerated, since
    store roots are often written ``s3://bucket/prefix/``), so a URI read back from
    metadata cannot smuggle ``..`` into a path.

    Raises:
        InvalidArtifactKey: for another scheme, a malformed URI, or an unsafe key part.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise InvalidArtifactKey(
            uri,
            "it has no scheme",
            "write file:///absolute/path or s3://bucket/key (or pass a plain path to open_store)",
            kind="URI",
        )
    if scheme == "file":
        return _parse_file_uri(uri, rest)
    if scheme == "s3":
        return _parse_s3_uri(uri, rest)
    raise InvalidArtifactKey(
        uri,
        f"scheme {scheme!r} is not supported",
        "use file:///absolute/path or s3://bucket/key",
        kind="URI",
    )


def _parse_file_uri(uri: str, rest: str) -> ParsedUri:
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost") or not slash:
        raise InvalidArtifactKey(
            uri,
            "a file URI needs an absolute local path",
            "write three slashes, as in file:///data/artifacts",
            kind="URI",
        )
    try:
        key = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise InvalidArtifactKey(
            uri,
            "its percent-encoded path is not valid UTF-8",
            "percent-encode the path's UTF-8 bytes, as pathlib.Path.as_uri() does",
            kind="URI",
        ) from None
    return ParsedUri("file", "/", _uri_key_part(uri, key))


def _parse_s3_uri(uri: str, rest: str) -> ParsedUri:
    bucket, _, key = rest.partition("/")
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise InvalidArtifactKey(
            uri,
            f"bucket name {bucket!r} is not a valid S3 bucket name",
            "use 3-63 lowercase letters, digits, '.' or '-', starting and ending with a "
            "letter or digit, as in s3://my-bucket/key",
            kind="URI",
        )
    return ParsedUri("s3", bucket, _uri_key_part(uri, key))


def _uri_key_part(uri: str, key: str) -> str:
    if key.endswith("/"):
        key = key[:-1]
    if key == "":
        return key
    problem = _key_problem(key)
    if problem is not None:
        unsafe, fix = problem
        raise InvalidArtifactKey(uri, f"its path {key!r} is unsafe: {unsafe}", fix, kind="URI")
    return key


def _key_problem(key: object) -> tuple[str, str] | None:
    """Return (problem, fix) for the first rule ``key`` breaks, or None."""
    if not isinstance(key, str):
        return ("it is not a string", f"pass the key as a str such as {_EXAMPLE_KEY}")
    if key == "":
        return ("it is empty", f"pass a relative path such as {_EXAMPLE_KEY}")
    control = _CONTROL_CHARS.search(key)
    if control is not None:
        return (
            f"it contains the control character {control.group()!r} at index {control.start()}",
            "remove NUL, newlines and other control characters from the key",
        )
    if "\\" in key:
        return ("it contains a backslash", "separate segments with '/', not '\\'")
    if key.startswith("/"):
        return (
            "it is absolute (starts with '/'); keys are relative to the store root",
            "drop the leading '/'",
        )
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return (
            "it is not valid UTF-8 text (it holds a lone surrogate)",
            "use only valid Unicode text",
        )
    if size > MAX_KEY_BYTES:
        return (
            f"it is {size} bytes long in UTF-8; keys are limited to {MAX_KEY_BYTES} bytes "
            "(S3's limit)",
            "shorten the key, e.g. by hashing a long component",
        )
    for segment in key.split("/"):
        problem = _segment_problem(segment)
        if problem is not None:
            return problem
    return None


def _segment_problem(segment: str) -> tuple[str, str] | None:
    if segment == "":
        return ("it has an empty segment ('//' or a trailing '/')", "remove the extra '/'")
    if segment == ".":
        return ("it has a '.' segment", "remove the '.' segment; keys are already relative")
    if segment == "..":
        return (
            "it has a '..' segment, which could escape the store",
            f"build the key from plain names, such as {_EXAMPLE_KEY}",
        )
    size = len(segment.encode("utf-8"))
    if size > MAX_SEGMENT_BYTES:
        return (
            f"its segment {segment[:20]!r}... is {size} bytes long in UTF-8; segments are "
            f"limited to {MAX_SEGMENT_BYTES} bytes (the usual filesystem name limit)",
            "shorten that segment, or split it with '/'",
        )
    return None


_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def normalised_digest(key: str, digest: str | None) -> str | None:
    """An `expected_sha256` argument in canonical form (lower-case hex), or a clear error."""
    if digest is None:
        return None
    normalised = digest.strip().lower()
    if not _SHA256_HEX.match(normalised):
        raise ArtifactStoreError(
            f"expected_sha256 for artifact {key!r} is {digest!r}, which is not a sha256 digest. "
            "Fix: pass the 64 hex digits recorded in ArtifactInfo.sha256"
        )
    return normalised

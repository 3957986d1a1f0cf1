"""Errors raised by artifact stores.

Every backend translates its own failures (``OSError``, later the ``minio`` client's
``S3Error``) into this hierarchy at its boundary, so callers handle one family of
errors whichever store they were given::

    ArtifactStoreError                 root: any failure of a store or an archive
    ├── ArtifactNotFound               no artifact at that key
    ├── InvalidArtifactKey             a key, prefix or URI breaks a naming rule (also a ValueError)
    ├── ArtifactIntegrityError         the bytes read do not have the expected sha256
    └── ArchiveError                   a tar.gz artifact is malformed or unsafe to unpack

Messages are written for the person running the pipeline: they name the key, URI or
path involved and say what to do about it. Each exception also pickles cleanly, so it
survives being sent back from a step's worker process.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "ArtifactIntegrityError",
    "ArtifactNotFound",
    "ArtifactStoreError",
    "InvalidArtifactKey",
]


class ArtifactStoreError(Exception):
    """Root of the hierarchy, so callers can catch every store failure in one clause."""


class ArtifactNotFound(ArtifactStoreError):
    """Raised when a read names a key that holds no artifact.

    Kept distinct from other failures because a missing input is usually an upstream
    step that did not produce its output, which the engine reports differently from
    a broken disk.
    """

    def __init__(self, key: str, uri: str) -> None:
        """Record the missing key and where it was looked for."""
        self.key = key
        self.uri = uri
        super().__init__(
            f"no artifact at key {key!r} ({uri}). Fix: check the key, and that the step "
            "that produces it succeeded and saved its output to this store."
        )

    def __reduce__(self) -> tuple[type[ArtifactNotFound], tuple[str, str]]:
        """Pickle from the constructor arguments (the default would pass only the message)."""
        return (type(self), (self.key, self.uri))


class InvalidArtifactKey(ArtifactStoreError, ValueError):
    """Raised when a key, prefix or URI breaks a naming rule, before any I/O happens.

    It is also a ``ValueError`` so that pydantic validators calling ``validate_key``
    turn it into an ordinary validation error with this message.
    """

    def __init__(self, value: str, problem: str, fix: str, kind: str = "key") -> None:
        """Record the offending value, its ``kind`` ("key", "prefix", "URI"), rule and fix."""
        self.value = value
        self.problem = problem
        self.fix = fix
        self.kind = kind
        super().__init__(f"invalid artifact {kind} {value!r}: {problem}. Fix: {fix}.")

    def __reduce__(self) -> tuple[type[InvalidArtifactKey], tuple[str, str, str, str]]:
        """Pickle from the constructor arguments (the default would pass only the message)."""
        return (type(self), (self.value, self.problem, self.fix, self.kind))


class ArtifactIntegrityError(ArtifactStoreError):
    """Raised when bytes read back do not hash to the digest recorded or expected.

    Silent corruption would surface much later as a wrong model or a confusing parse
    error in a downstream step; failing at the read names the culprit.
    """

    def __init__(self, key: str, uri: str, expected: str, actual: str) -> None:
        """Record both digests, so callers can log or compare them."""
        self.key = key
        self.uri = uri
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"artifact {key!r} ({uri}) has sha256 {actual}, but {expected} was expected; "
            "the destination was left untouched. Fix: re-run the step that produced it, "
            "or check that the expected digest belongs to this artifact and run."
        )

    def __reduce__(self) -> tuple[type[ArtifactIntegrityError], tuple[str, str, str, str]]:
        """Pickle from the constructor arguments (the default would pass only the message)."""
        return (type(self), (self.key, self.uri, self.expected, self.actual))


class ArchiveError(ArtifactStoreError):
    """Raised when a tar.gz artifact cannot be packed or is unsafe to unpack.

    Unpacking refuses the whole archive rather than skipping bad members, so a step
    never starts with a silently incomplete input directory.
    """

"""Where an S3/MinIO artifact store lives and how to sign in: settings read from the environment.

``S3Settings()`` reads ``KUBEPIPE_S3_ENDPOINT`` (``host:port``), ``KUBEPIPE_S3_ACCESS_KEY``,
``KUBEPIPE_S3_SECRET_KEY``, ``KUBEPIPE_S3_SECURE`` (``true``/``false``; default: plain HTTP)
and the optional ``KUBEPIPE_S3_REGION``. The bucket is not a setting: it comes from the store
URI (``s3://bucket[/prefix]``), so one set of credentials serves several pipeline roots.

Nothing here talks to a server or imports the ``minio`` client, so a missing variable is
reported before any connection is attempted. Like ``engine.settings.Settings`` there is no
module-level instance: entry points build one and pass it down.

Examples:
    >>> settings = S3Settings(endpoint="127.0.0.1:9000", access_key="kp", secret_key="secret")
    >>> settings.missing_variables()
    []
    >>> S3Settings(endpoint=None, access_key=None, secret_key=None).missing_variables()
    ['KUBEPIPE_S3_ENDPOINT', 'KUBEPIPE_S3_ACCESS_KEY', 'KUBEPIPE_S3_SECRET_KEY']
"""

from __future__ import annotations

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from artifact_store.errors import ArtifactStoreError

__all__ = ["ENV_PREFIX", "S3Settings", "load_s3_settings", "require_complete"]

ENV_PREFIX = "KUBEPIPE_S3_"
_REQUIRED = ("endpoint", "access_key", "secret_key")


class S3Settings(BaseSettings):
    """Endpoint and credentials of the S3-compatible server holding ``s3://`` artifacts.

    ``secure`` is ``None`` when not set, so that an endpoint written with a scheme
    (``https://minio.example:9000``) can decide it; plain ``host:port`` then means HTTP.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True, frozen=True
    )

    endpoint: str | None = None
    access_key: str | None = None
    secret_key: SecretStr | None = None
    secure: bool | None = None
    region: str | None = None

    def missing_variables(self) -> list[str]:
        """Name the environment variables that must still be set, in a stable order."""
        return [
            f"{ENV_PREFIX}{name.upper()}" for name in _REQUIRED if not _present(getattr(self, name))
        ]


def load_s3_settings(uri: str) -> S3Settings:
    """Read ``S3Settings`` from the environment, failing with one message that names every
    missing or malformed variable (``uri`` is the store being opened, for the message).

    Raises:
        ArtifactStoreError: if a required variable is missing or a value does not parse.
    """
    try:
        settings = S3Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise ArtifactStoreError(
            f"cannot open the artifact store {uri!r}: {problems}. Fix: set "
            f"{ENV_PREFIX}SECURE to true or false (and the other {ENV_PREFIX}* variables "
            "to plain strings)"
        ) from None
    require_complete(settings, uri)
    return settings


def require_complete(settings: S3Settings, uri: str) -> None:
    """Raise if ``settings`` lacks the endpoint or credentials needed to open ``uri``."""
    missing = settings.missing_variables()
    if missing:
        raise ArtifactStoreError(
            f"cannot open the artifact store {uri!r}: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Fix: export "
            f"{ENV_PREFIX}ENDPOINT=host:port (the S3/MinIO API, e.g. 127.0.0.1:9000), "
            f"{ENV_PREFIX}ACCESS_KEY and {ENV_PREFIX}SECRET_KEY (and {ENV_PREFIX}SECURE=true "
            "for HTTPS), or use a local directory as the artifact root"
        )


def _present(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, str) and value.strip() != ""

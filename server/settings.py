"""The server's settings: built once by `kubepipe server`/`kubepipe up` (or a test) and passed to
`create_app`, never read from a module-level object.

Where the data lives (database URL, artifact store) is the engine's `Settings`, carried inside, so
the API reads the same runs that `kubepipe get` reads.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.loader import MAX_YAML_DEPTH
from engine.settings import Settings

MIB = 1024 * 1024


class ServerSettings(BaseSettings):
    """Environment: KUBEPIPE_SERVER_UPLOAD_MAX_BYTES, KUBEPIPE_SERVER_AUTH, ..."""

    model_config = SettingsConfigDict(env_prefix="KUBEPIPE_SERVER_", extra="ignore")

    engine: Settings = Field(default_factory=Settings)
    # With auth off, one local user sees and edits every namespace (a laptop); with it on, every
    # request needs `Authorization: Bearer TOKEN` and sees only its token's namespace.
    auth: bool = False
    default_namespace: str = "default"
    # Uploads larger than this are refused with 413 before they are parsed.
    upload_max_bytes: int = 8 * MIB
    # A YAML document may not hold more nodes than this, counting each alias as everything it
    # expands to, so neither a huge item list nor a small "billion laughs" upload can make the
    # validator walk an exponential (or merely enormous) tree.
    yaml_max_nodes: int = Field(default=200_000, ge=1)
    # Nor nest deeper than this (the engine's loader refuses more than MAX_YAML_DEPTH anyway).
    yaml_max_depth: int = Field(default=MAX_YAML_DEPTH, ge=1, le=MAX_YAML_DEPTH)
    max_page_size: int = 200
    # How often a followed log stream and the dashboard's live views look for news.
    follow_interval: float = 0.5


def limit_body(field: str, value: int) -> dict[str, Any]:
    """The `limit` member of a 413/422 caused by a server limit: the setting, its environment
    variable and its value, so an operator knows what to raise and a client what to stay under."""
    env = ServerSettings.model_config.get("env_prefix", "") + field.upper()
    return {"limit": {"setting": field, "env": env, "value": value}}

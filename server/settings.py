"""The server's settings: built once by `kubepipe server`/`kubepipe up` (or a test) and passed to
`create_app`, never read from a module-level object.

Where the data lives (database URL, artifact store) is the engine's `Settings`, carried inside, so
the API reads the same runs that `kubepipe get` reads.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    # A YAML document may not expand (through anchors and aliases) to more nodes than this, so
    # a small "billion laughs" upload cannot make the validator walk an exponential tree.
    yaml_max_nodes: int = 200_000
    max_page_size: int = 200
    # How often a followed log stream and the dashboard's live views look for news.
    follow_interval: float = 0.5
